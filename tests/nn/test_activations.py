"""Activations: symbolic derivatives, declared subgradients, compiled kernels, errors."""

import math

import numpy as np
import pytest
import sympy as sp

import nedsym.nn as nn
from nedsym.errors import DeclarationError, NonDifferentiableError
from nedsym.nn.activations import Z

ZS = np.linspace(-2.5, 2.5, 11)


@pytest.mark.parametrize("name", ["tanh", "sin", "softplus", "sigmoid", "gelu"])
def test_smooth_derivatives_match_finite_differences(name):
    act = nn.activation(name)
    h = 1e-5
    for k in range(1, 4):
        lower, exact = act.kernel(k - 1), act.kernel(k)
        fd = (lower(ZS + h) - lower(ZS - h)) / (2 * h)
        np.testing.assert_allclose(fd, exact(ZS), atol=1e-7)


def test_builtin_values():
    ref = {"tanh": np.tanh, "sin": np.sin, "softplus": lambda z: np.log1p(np.exp(z)),
           "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
           "gelu": lambda z: np.array([0.5 * t * (1 + math.erf(t / math.sqrt(2))) for t in z]),
           "relu": lambda z: np.maximum(z, 0), "identity": lambda z: z}
    for name, f in ref.items():
        np.testing.assert_allclose(nn.activation(name).kernel(0)(ZS), f(ZS), rtol=1e-14,
                                   atol=1e-15, err_msg=name)


def test_relu_declared_subgradient():
    relu = nn.activation("relu")
    d1 = relu.kernel(1)(np.array([-1.0, 0.0, 2.0]))
    assert d1.tolist() == [0.0, 0.0, 1.0]  # H(0) = 0
    assert relu.derivative(2) == 0 and relu.derivative(5) == 0


def test_user_lambda_and_pair():
    t = sp.Symbol("t")
    swish = nn.activation(sp.Lambda(t, t * sp.tanh(t)))
    assert sp.simplify(swish.derivative(1) - sp.diff(Z * sp.tanh(Z), Z)) == 0
    pair = nn.activation((t**3, t))
    assert pair.derivative(2) == 6 * Z
    np.testing.assert_allclose(pair.kernel(1)(ZS), 3 * ZS**2)


def test_activation_inside_rule_keeps_declared_derivative():
    relu = nn.activation("relu")
    z = sp.Symbol("z")
    assert sp.diff(relu(z), z, 2).has(relu.function(2))


def test_unknown_name_lists_valid():
    with pytest.raises(DeclarationError, match="valid names: tanh, sin"):
        nn.activation("swishy")


def test_lambda_with_two_arguments():
    a, b = sp.symbols("a b")
    with pytest.raises(DeclarationError, match="exactly one argument"):
        nn.activation(sp.Lambda((a, b), a * b))


def test_extra_symbol_rejected():
    a, b = sp.symbols("a b")
    with pytest.raises(DeclarationError, match=r"\['b'\]"):
        nn.Activation("bad", a * b, a)


def test_non_differentiable_user_expression():
    t = sp.Symbol("t")
    act = nn.Activation("kink", sp.Abs(t), t)
    assert act.derivative(1) == sp.sign(Z)
    with pytest.raises(NonDifferentiableError, match="'kink'.*not 2 times"):
        act.derivative(2)
    # a network needing the second derivative reports the layer
    net = nn.MLP([1, 3, 1], activation=act, seed=0)
    with pytest.raises(NonDifferentiableError, match="kink"):
        net.forward(np.zeros((2, 1)), order=2)


@pytest.mark.parametrize("name", ["gelu", "tanh", "swish-tanh", "relu"])
def test_numba_kernel_equals_numpy(name):
    """The compiled scalar kernels (tanh printed as the generated one-exp tanh) equal the
    NumPy ones, NaN included (a compiled relu's Max propagates it as np.maximum does)."""
    z = sp.Symbol("z")
    act = nn.activation(sp.Lambda(z, z * sp.tanh(z)) if name == "swish-tanh" else name)
    zs = np.append(ZS, np.nan)
    for k in range(2 if name == "relu" else 3):
        got, want = act.kernel(k, "numba")(zs), act.kernel(k)(zs)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
        assert np.isnan(got[-1]) == np.isnan(want[-1])
