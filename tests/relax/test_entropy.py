"""Local entropy: closed form vs Cole–Hopf quadrature, Moreau envelope, the beta → inf limit."""

import numpy as np
import pytest
import sympy as sp

from nedsym.errors import DeclarationError, QuadratureError, SolverError
from nedsym.flows import HamiltonJacobi
from nedsym.relax import (
    Loss,
    hopf_lax,
    local_entropy,
    moreau_envelope,
    quadratic_local_entropy,
)
from nedsym.relax.estimators import importance_sampling_gradient, langevin_gradient

x, y = sp.symbols("x y", real=True)


@pytest.mark.parametrize("a,gamma,beta", [(1.0, 1.0, 1.0), (3.0, 0.5, 2.0), (0.2, 2.0, 10.0),
                                          (-0.4, 1.0, 3.0)])
def test_quadratic_closed_form_1d(a, gamma, beta):
    X = np.linspace(-2, 2, 9)[:, None]
    le = local_entropy(a * x**2 / 2, X, gamma, beta, width=14)
    np.testing.assert_allclose(le.value, quadratic_local_entropy(X, a, gamma, beta), atol=1e-6)
    np.testing.assert_allclose(le.grad[:, 0], a * X[:, 0] / (1 + a * gamma), atol=1e-6)


@pytest.mark.parametrize("a,gamma,beta", [(1.0, 1.0, 1.0), (2.0, 0.3, 5.0)])
def test_quadratic_closed_form_2d(a, gamma, beta):
    X = np.random.default_rng(0).normal(size=(6, 2))
    le = local_entropy(a * (x**2 + y**2) / 2, X, gamma, beta, n=(64, 64))
    np.testing.assert_allclose(le.value, quadratic_local_entropy(X, a, gamma, beta), atol=1e-6)
    np.testing.assert_allclose(le.grad, a * X / (1 + a * gamma), atol=1e-6)


def test_smoothing_lowers_curvature_and_tends_to_f():
    X = np.linspace(-1, 1, 5)[:, None]
    f = sp.cos(3 * x) + x**2
    small = local_entropy(f, X, 1e-4, 5.0)
    np.testing.assert_allclose(small.value, np.cos(3 * X[:, 0]) + X[:, 0] ** 2, atol=1e-3)
    # curvature a/(1 + a*gamma) < a: the second difference of f_gamma is below that of f
    h = 1e-2
    pts = np.array([[-h], [0.0], [h]])
    v = local_entropy(4 * x**2 / 2, pts, 0.5, 2.0).value
    assert (v[0] - 2 * v[1] + v[2]) / h**2 == pytest.approx(4 / 3, rel=1e-4)


def test_moreau_envelope_matches_hopf_lax_for_convex_f():
    f = sp.log(sp.cosh(x)) + x**2 / 10 + x / 3
    for x0, t, theta in [(1.5, 0.7, 1.0), (-2.0, 2.0, 0.5), (0.3, 0.1, 1.0)]:
        r = moreau_envelope(f, np.array([x0]), t, damping=theta)
        ref = hopf_lax(f, [[x0]], t, [(-6, 6)], n=240001)[0]
        assert r.value == pytest.approx(ref, abs=1e-8)
        # the fixed point: p = f'(x - t p), and p = du/dx (central difference of u)
        d = 1e-5
        up = moreau_envelope(f, np.array([x0 + d]), t, damping=theta).value
        um = moreau_envelope(f, np.array([x0 - d]), t, damping=theta).value
        assert r.grad[0] == pytest.approx((up - um) / (2 * d), abs=1e-7)


def test_moreau_2d_quadratic_and_damping():
    A = np.array([[3.0, 1.0], [1.0, 2.0]])
    f = Loss(lambda X: 0.5 * np.einsum("mi,ij,mj->m", X, A, X), lambda X: X @ A, 2)
    x0, t = np.array([1.0, -2.0]), 0.8
    exact = np.linalg.solve(np.eye(2) + t * A, A @ x0)   # p = A (I + tA)^{-1} x
    r = moreau_envelope(f, x0, t, damping=0.5)   # t*L ~ 2.9: needs damping to contract
    np.testing.assert_allclose(r.grad, exact, atol=1e-10)
    with pytest.raises(SolverError, match="damping"):
        moreau_envelope(f, x0, t, damping=1.0, maxiter=200)


def test_beta_to_infinity_gives_the_moreau_envelope():
    f = sp.log(sp.cosh(x)) + x**2 / 10
    x0, gamma = 1.5, 0.7
    target = moreau_envelope(f, np.array([x0]), gamma).value
    errs = []
    for beta in (10.0, 100.0, 1000.0):
        le = local_entropy(f, np.array([[x0]]), gamma, beta, bounds=[(-2, 4)], n=(4000,),
                           rule="midpoint")
        errs.append(abs(le.value[0] - target))
    assert errs[0] > errs[1] > errs[2] and errs[2] < 2e-3
    # the error shrinks like 1/beta (Laplace): the ratio per decade is about 10
    assert 5 < errs[1] / errs[2] < 20


def test_importance_sampling_and_langevin_estimators():
    X0 = np.array([1.0, -0.5])
    a, gamma, beta = 1.5, 0.5, 4.0
    exact = a * X0 / (1 + a * gamma)
    est = importance_sampling_gradient(a * (x**2 + y**2) / 2, X0, gamma, beta, n=8192, seed=1)
    np.testing.assert_allclose(est.grad, exact, atol=0.03)
    assert est.value == pytest.approx(quadratic_local_entropy(X0, a, gamma, beta), abs=0.02)
    assert 100 < est.ess <= 8192
    lang = [langevin_gradient(lambda z: a * z, X0, gamma, beta, steps=4000, lr=0.02,
                              alpha=0.001, seed=s).grad for s in range(4)]
    np.testing.assert_allclose(np.mean(lang, axis=0), exact, atol=0.1)
    # determinism under a seed
    again = importance_sampling_gradient(a * (x**2 + y**2) / 2, X0, gamma, beta, n=8192,
                                         seed=1)
    assert np.array_equal(again.grad, est.grad)


def test_hamilton_jacobi_symbolic():
    b = sp.Symbol("b")
    hj = HamiltonJacobi(x**4 / 4 - x**2 / 2 + y**2, beta=2)
    assert hj.coords == (x, y) and hj.cole_hopf_residual() == 0
    u = hj.u
    expected = -(sp.Derivative(u, x) ** 2 + sp.Derivative(u, y) ** 2) / 2 + (
        sp.Derivative(u, (x, 2)) + sp.Derivative(u, (y, 2))) / 4
    assert sp.simplify(hj.rhs - expected) == 0
    # a different Hamiltonian breaks Cole–Hopf
    hj2 = HamiltonJacobi(x**2, coords=[x], beta=2, hamiltonian=lambda p: p[0] ** 2)
    assert hj2.cole_hopf_residual() != 0
    assert HamiltonJacobi(x**2, coords=[x]).inviscid
    with pytest.raises(DeclarationError, match="inverse temperature"):
        HamiltonJacobi(x**2, coords=[x], beta=-1)
    with pytest.raises(DeclarationError, match="neither coordinates"):
        HamiltonJacobi(x**2 + b, coords=[x], beta=1)
    with pytest.raises(DeclarationError, match="momentum"):
        HamiltonJacobi(x**2, coords=[x], beta=1, hamiltonian=x**2)


def test_bad_input_errors():
    with pytest.raises(QuadratureError, match="gamma"):
        local_entropy(x**2, np.zeros((1, 1)), -1.0, 1.0)
    with pytest.raises(QuadratureError, match="shape"):
        local_entropy(x**2, np.zeros((1, 2)), 1.0, 1.0)
    with pytest.raises(QuadratureError, match="sampling rule"):
        importance_sampling_gradient(x**2, np.zeros(1), 1.0, 1.0, rule="gauss")
    with pytest.raises(DeclarationError, match="grad="):
        from nedsym.relax import as_loss
        as_loss(lambda X: X[:, 0])
