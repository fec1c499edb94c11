"""The textbook set: each variational derivative against a hand derivation,
sympy's euler_equations (where it applies) and a Taylor test (rate 2)."""

import pytest
import sympy as sp

import nedsym as ns
from nedsym.verify import against_sympy, equivalent, taylor_test

x, y, z = ns.coords("x y z")
u = ns.Field("u", (x, y))
D = sp.Derivative


def lap2(f):
    return f.diff(x, 2) + f.diff(y, 2)


def _case(name):
    eps, lam, r, d, p = (ns.Param("eps", 0.3), ns.Param("lam", 0.7), ns.Param("r", 0.2),
                         ns.Param("delta", 0.5), ns.Param("p", 3))
    g2 = ns.dot(ns.grad(u), ns.grad(u))
    f = sp.sin(x) * sp.cos(y)
    if name == "dirichlet":
        return ns.Energy(g2 / 2, [u]), -lap2(u)
    if name == "poisson":
        return ns.Energy(g2 / 2 - f * u, [u]), -lap2(u) - f
    if name == "ginzburg-landau-2d":
        return ns.Energy(eps**2 / 2 * g2 + (u**2 - 1) ** 2 / 4, [u]), \
            -eps**2 * lap2(u) + u**3 - u
    if name == "p-laplacian":
        q = g2 + d**2  # regularized so that the Taylor test stays smooth
        grad_term = sum(sp.diff(q ** ((p - 2) / 2) * u.diff(c), c) for c in (x, y))
        return ns.Energy(q ** (p / 2) / p, [u]), -grad_term
    if name == "minimal-surface":
        s = sp.sqrt(1 + g2)
        return ns.Energy(s, [u]), -(sp.diff(u.diff(x) / s, x) + sp.diff(u.diff(y) / s, y))
    if name == "total-variation":
        s = sp.sqrt(g2 + d**2)
        return ns.Energy(s + lam / 2 * (u - f) ** 2, [u]), \
            -(sp.diff(u.diff(x) / s, x) + sp.diff(u.diff(y) / s, y)) + lam * (u - f)
    if name == "perona-malik":
        c = 1 / (1 + g2 / lam**2)
        return ns.Energy(lam**2 / 2 * sp.log(1 + g2 / lam**2), [u]), \
            -(sp.diff(c * u.diff(x), x) + sp.diff(c * u.diff(y), y))
    if name == "bilaplacian":
        return ns.Energy(ns.lap(u) ** 2 / 2, [u]), lap2(lap2(u))
    if name == "swift-hohenberg":
        return ns.Energy(-r / 2 * u**2 + ((u + ns.lap(u)) ** 2) / 2 + u**4 / 4, [u]), \
            -r * u + u + 2 * lap2(u) + lap2(lap2(u)) + u**3
    if name == "explicit-x":
        a = 2 + sp.cos(x)  # periodic, so the Taylor test's box has no boundary terms
        return ns.Energy(a * g2 / 2 + sp.cos(y) * u, [u]), \
            -(sp.diff(a * u.diff(x), x) + sp.diff(a * u.diff(y), y)) + sp.cos(y)
    raise KeyError(name)


CASES = ["dirichlet", "poisson", "ginzburg-landau-2d", "p-laplacian", "minimal-surface",
         "total-variation", "perona-malik", "bilaplacian", "swift-hohenberg", "explicit-x"]

U0 = sp.Rational(1, 2) * sp.sin(x + 1) * sp.sin(y + 2) + sp.Rational(1, 5)
V = sp.cos(x) * sp.cos(2 * y + 1) + sp.sin(x + y)


@pytest.mark.parametrize("name", CASES)
def test_against_hand_derivation(name):
    E, expected = _case(name)
    assert equivalent(E.variational_derivative(u), expected.doit())


@pytest.mark.parametrize("name", CASES)
def test_against_sympy_oracle(name):
    E, _ = _case(name)
    assert against_sympy(E).ok


@pytest.mark.parametrize("name", CASES)
def test_taylor_rate_two(name):
    E, _ = _case(name)
    r = taylor_test(E, u, u0=U0, v=V, n=48)
    assert abs(r.rate - 2) < 0.1, str(r)


def test_wrong_gradient_is_caught():
    E, _ = _case("ginzburg-landau-2d")
    wrong = E.variational_derivative(u) + sp.Rational(1, 10) * u
    r = taylor_test(E, u, u0=U0, v=V, n=32, gradient={u: wrong})
    assert not r.passed()
    assert r.rate < 1.5


def test_ginzburg_landau_3d():
    u3 = ns.Field("u", (x, y, z))
    eps = ns.Param("eps", 0.4)
    E = ns.Energy(eps**2 / 2 * ns.dot(ns.grad(u3), ns.grad(u3)) + (u3**2 - 1) ** 2 / 4, [u3])
    expected = -eps**2 * (u3.diff(x, 2) + u3.diff(y, 2) + u3.diff(z, 2)) + u3**3 - u3
    assert equivalent(E.variational_derivative(u3), expected)
    r = taylor_test(E, u3, u0=sp.sin(x) * sp.cos(y + z) / 2, v=sp.cos(x + 2 * z) + sp.sin(y),
                    n=16)
    assert abs(r.rate - 2) < 0.1


def test_two_coupled_fields():
    v = ns.Field("v", (x, y))
    a = ns.Param("a", 0.8)
    E = ns.Energy(ns.dot(ns.grad(u), ns.grad(u)) / 2 + ns.dot(ns.grad(v), ns.grad(v)) / 2
                  + a * u**2 * v**2 + u * v.diff(x), [u, v])
    assert equivalent(E.variational_derivative(u), -lap2(u) + 2 * a * u * v**2 + v.diff(x))
    assert equivalent(E.variational_derivative(v), -lap2(v) + 2 * a * u**2 * v - u.diff(x))
    assert against_sympy(E).ok
    u0 = {u: U0, v: sp.cos(x - y) / 3}
    for direction in ({u: V}, {v: V}, {u: V, v: sp.sin(2 * x)}):
        assert taylor_test(E, u0=u0, v=direction, n=32).passed()


def test_vector_field_linear_elasticity():
    w = ns.Field("w", (x, y), shape=(2,))
    mu, lam = ns.Param("mu", 1.0), ns.Param("lam", 2.0)
    J = ns.grad(w)
    strain = (J + J.T) / 2
    E = ns.Energy(mu * ns.dot(strain, strain) + lam / 2 * ns.div(w) ** 2, [w])
    dE = E.variational_derivative(w)
    assert dE.shape == (2, 1)
    # Navier–Cauchy: -mu Δw - (mu + lam) ∇(div w)
    divw = ns.div(w)
    for i, c in enumerate((x, y)):
        expected = -mu * lap2(w[i]) - (mu + lam) * sp.diff(divw, c)
        assert equivalent(dE[i], expected)
    assert against_sympy(E).ok
    u0 = {w: sp.Matrix([sp.sin(x) * sp.cos(y), sp.cos(x + y) / 2])}
    assert taylor_test(E, u0=u0, v={w: sp.Matrix([sp.cos(2 * x), sp.sin(x - y)])}, n=32).passed()


def test_fields_with_different_arguments():
    v = ns.Field("v", (x,))
    E = ns.Energy(u**2 * v + v.diff(x) ** 2 + ns.dot(ns.grad(u), ns.grad(u)) / 2, [u, v])
    # total derivatives run over v's own argument; the result integrates over y
    assert equivalent(E.variational_derivative(v), u**2 - 2 * v.diff(x, 2))
    report = against_sympy(E)
    assert not report.applicable and "different" in report.reason
    r = taylor_test(E, u0={u: U0, v: sp.cos(x) / 2}, v={v: sp.sin(2 * x) + sp.cos(x)}, n=32)
    assert abs(r.rate - 2) < 0.1


def test_third_order_derivative():
    x1 = ns.coords("x")[0]
    w = ns.Field("w", (x1,))
    E = ns.Energy(w.diff(x1, 3) ** 2 / 2 + w**4, [w])
    assert equivalent(E.variational_derivative(w), -w.diff(x1, 6) + 4 * w**3)
    assert against_sympy(E).ok
    assert taylor_test(E, w, u0=sp.sin(x1) / 2, v=sp.cos(3 * x1)).passed()
