"""verify.check_jacobian: every activation and layer passes; a wrong derivative fails."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import nedsym.nn as nn
from nedsym.errors import ConfigError, VerificationError
from nedsym.verify import check_jacobian

X = np.random.default_rng(3).uniform(-1, 1, (8, 2))


@pytest.mark.parametrize("name", nn.BUILTIN_ACTIVATIONS)
@pytest.mark.parametrize("residual", [False, True])
def test_builtin_activations_and_layers_pass(name, residual):
    net = nn.MLP([2, 5, 5, 2], activation=name, residual=residual, h=0.5, seed=1)
    # relu: steps small enough that no pre-activation changes sign (FD across a kink fails)
    steps = {"h0": 1e-4, "fd_h0": 1e-4} if name == "relu" else {}
    for lap_only in (False, True):
        report = check_jacobian(net, X, order=2, lap_only=lap_only, **steps)
        assert report.passed(), str(report)
    smooth = name not in ("relu", "identity", "linear")
    if smooth:  # a real rate-2 observation, not only round-off-level remainders
        assert abs(report.taylor["lap"].rate - 2) < 0.2
        assert abs(report.spatial["lap"].rate - 2) < 0.2


def test_user_layers_pass():
    x, z, a, c = sp.symbols("x z a c")
    swish = nn.Layer.from_rule(z * sp.exp(-(a * z) ** 2) + c * sp.sin(z), z=z,
                               params={a: 0.8, c: lambda rng, n: rng.uniform(0.5, 1, n)},
                               n_in=2, n_out=4)
    mixer = nn.Layer.from_rule(x + sp.tanh(z) * sp.sin(a), x=x, z=z, params={a: 0.7},
                               n_in=4, n_out=4)
    net = nn.Network([swish, mixer, nn.Linear(4, 1)], seed=2)
    for order in (0, 1, 2):
        report = check_jacobian(net, X, order=order)
        report.assert_ok()
    assert set(report.taylor) == {"u", "grad", "hess", "rows"}
    assert set(report.spatial) == {"grad", "hess"}
    assert abs(report.taylor["hess"].rate - 2) < 0.2


def test_wrong_derivative_fails():
    z = sp.Symbol("z")
    wrong = nn.Activation("tanh_wrong", sp.tanh(z), z,
                          derivatives={1: 1 - sp.tanh(z) ** 2 + z / 10})
    net = nn.MLP([2, 5, 1], activation=wrong, seed=0)
    report = check_jacobian(net, X, order=1)
    assert "jacobian u" in report.failures() and "spatial grad" in report.failures()
    assert report.taylor["u"].rate < 1.2
    with pytest.raises(VerificationError, match="Jacobian check failed"):
        report.assert_ok()


def test_wrong_second_derivative_fails_only_at_order_two():
    z = sp.Symbol("z")
    wrong = nn.Activation("sin_wrong", sp.sin(z), z,
                          derivatives={1: sp.cos(z), 2: -sp.sin(z) + sp.Rational(1, 5)})
    net = nn.MLP([2, 4, 1], activation=wrong, seed=0)
    assert check_jacobian(net, X, order=0).passed()
    report = check_jacobian(net, X, order=1)
    # d(grad)/dtheta uses sigma'', and so do the rows of a cotangent on grad
    assert report.failures() == ["jacobian grad", "jacobian rows"]
    report = check_jacobian(net, X, order=2)
    assert "spatial hess" in report.failures()
    # the diagonal-only jets read sigma'' too: their check fails the same way
    assert "spatial diag" in check_jacobian(net, X, order=2, diag_only=True).failures()


def test_diagonal_only_jets_pass():
    net = nn.MLP([3, 5, 5, 1], activation="tanh", residual=True, h=0.5, seed=2)
    X3 = np.random.default_rng(3).uniform(-1, 1, (6, 3))
    report = check_jacobian(net, X3, order=2, diag_only=True)
    assert report.passed(), str(report)
    assert set(report.taylor) == {"u", "grad", "diag", "rows"}
    assert abs(report.spatial["diag"].rate - 2) < 0.2
    with pytest.raises(ConfigError, match="exclude each other"):
        check_jacobian(net, X3, order=2, diag_only=True, lap_only=True)


def test_report_text():
    report = check_jacobian(nn.MLP([2, 3, 1], seed=0), X, order=1)
    text = str(report)
    assert "[d grad / d theta]" in text and "central differences of grad" in text
    assert "PASS" in text and "FAIL" not in text


@settings(max_examples=8, deadline=None)
@given(d=st.integers(1, 3), width=st.integers(1, 5), depth=st.integers(1, 3),
       act=st.sampled_from(["tanh", "sin", "gelu", "softplus"]), residual=st.booleans(),
       seed=st.integers(0, 1000))
def test_random_architectures_pass(d, width, depth, act, residual, seed):
    net = nn.MLP([d] + [width] * depth + [2], activation=act, residual=residual, seed=seed)
    pts = np.random.default_rng(seed).uniform(-1, 1, (5, d))
    report = check_jacobian(net, pts, order=2, seed=seed)
    assert report.passed(), str(report)


def test_a_tiny_correct_hessian_passes():
    """|hess| ~ 3e-6: its central differences fall 4e-13 -> 2e-15 at rate 2 into the
    round-off band (once a FAIL: too few errors were 100x above round-off)."""
    net = nn.MLP([1, 1, 2], activation="tanh", residual=False, seed=700)
    pts = np.random.default_rng(700).uniform(-1, 1, (5, 1))
    report = check_jacobian(net, pts, order=2, seed=700)
    assert report.passed(), str(report)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_linearized_rows_are_checked_and_a_wrong_row_fails(backend, monkeypatch):
    """The rows of Network.linearize (what NED's strong route solves with) are Taylor-tested
    as the Jacobian of <c, jet>; rows that are off by 1 % give rate 1 and FAIL, while the
    Jacobians themselves still pass."""
    net = nn.MLP([2, 6, 1], seed=4, backend=backend)
    for order, kw in ((0, {}), (1, {}), (2, {}), (2, {"lap_only": True}),
                      (2, {"diag_only": True})):
        report = check_jacobian(net, X, order=order, spatial=False, **kw)
        assert report.passed(), str(report)
        assert abs(report.taylor["rows"].rate - 2) < 0.2
    assert "rows" not in check_jacobian(net, X, order=1, rows=False).taylor
    real = nn.Linearization.rows
    monkeypatch.setattr(nn.Linearization, "rows", lambda self, cot, out=None:
                        1.01 * real(self, cot, out))
    report = check_jacobian(net, X, order=2, spatial=False)
    assert report.failures() == ["jacobian rows"]
    assert report.taylor["rows"].rate < 1.2
