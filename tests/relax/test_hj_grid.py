"""The HJ grid solver (generated monotone kernels) against Cole–Hopf quadrature and Hopf–Lax."""

import numpy as np
import pytest
import sympy as sp

import nedsym as ns
from nedsym.errors import DiscretizationError
from nedsym.flows import HamiltonJacobi
from nedsym.relax import hopf_lax, local_entropy, quadratic_local_entropy
from nedsym.relax.hj_grid import numerical_hamiltonian

x, y = ns.coords("x y")
F1 = sp.sin(2 * x) + x**2 / 4


def _errors_1d(hj, ns_, oracle, scheme="godunov", t=0.5):
    errs = []
    for n in ns_:
        grid = ns.Grid(n, [(-4, 4)], bc="neumann")
        sol = hj.discretize(grid, backend="numpy", scheme=scheme).solve(t)
        X = grid.axes[0]
        inner = np.abs(X) <= 2
        errs.append(float(np.abs(sol.u[inner] - oracle(X[inner][:, None])).max()))
    return np.array(errs)


def _orders(errs):
    return np.log2(errs[:-1] / errs[1:])


@pytest.mark.parametrize("scheme", ["godunov", "lax-friedrichs"])
def test_viscous_1d_converges_to_cole_hopf(scheme):
    hj = HamiltonJacobi(F1, coords=[x], beta=2.0)
    errs = _errors_1d(hj, [100, 200, 400], lambda X: local_entropy(F1, X, 0.5, 2.0).value,
                      scheme)
    orders = _orders(errs)
    assert np.all(orders > 0.8) and np.all(orders < 1.3), (errs, orders)   # first order
    assert errs[-1] < (0.015 if scheme == "godunov" else 0.045)


def test_inviscid_1d_converges_to_hopf_lax():
    hj = HamiltonJacobi(F1, coords=[x])
    errs = _errors_1d(hj, [100, 200, 400],
                      lambda X: hopf_lax(F1, X, 0.5, [(-6, 6)], n=60001))
    orders = _orders(errs)
    assert np.all(orders > 0.85), (errs, orders)
    assert errs[-1] < 0.015


def test_viscous_2d_quadratic_closed_form_numba_matches_numpy():
    a, beta, t = 1.0, 2.0, 0.5
    hj = HamiltonJacobi(a * (x**2 + y**2) / 2, beta=beta)
    errs = []
    for n in (20, 40):
        grid = ns.Grid((n, n), [(-4, 4), (-4, 4)], bc="neumann")
        sol = hj.discretize(grid, backend="numpy").solve(t)
        X, Y = grid.mesh()
        inner = (np.abs(X) <= 2) & (np.abs(Y) <= 2)
        exact = quadratic_local_entropy(np.c_[X[inner], Y[inner]], a, t, beta)
        errs.append(np.abs(sol.u[inner] - exact).max())
    assert errs[1] < 0.6 * errs[0] and errs[1] < 0.1, errs
    # generated numba kernel = numpy reference kernel
    grid = ns.Grid((12, 10), [(-2, 2), (-1, 2)], bc="neumann")
    u = np.random.default_rng(0).normal(size=grid.shape)
    r_np = hj.discretize(grid, backend="numpy").rhs(u)
    r_nb = hj.discretize(grid, backend="numba").rhs(u)
    np.testing.assert_allclose(r_nb, r_np, rtol=1e-12, atol=1e-12)


def test_numerical_hamiltonians_and_errors():
    p = (sp.Symbol("p_x"), sp.Symbol("p_y"))
    a, b, c, d = sp.symbols("a b c d")
    H = (p[0] ** 2 + p[1] ** 2) / 2
    G = numerical_hamiltonian(H, p, [a, c], [b, d], "godunov")
    # consistency: H^(p, p) = H(p); upwinding: only the outflow side counts
    assert G.subs({a: 0.3, b: 0.3, c: -0.2, d: -0.2}) == pytest.approx(0.065)
    assert G.subs({a: -1.0, b: 1.0, c: 0, d: 0}) == 0          # a local minimum: no flux
    with pytest.raises(DiscretizationError, match="separable"):
        numerical_hamiltonian(sp.sqrt(1 + p[0] ** 2 + p[1] ** 2), p, [a, c], [b, d], "godunov")
    with pytest.raises(DiscretizationError, match="convex"):
        numerical_hamiltonian(-p[0] ** 2, p[:1], [a], [b], "godunov")
    # a non-separable H runs with Lax–Friedrichs and stays consistent
    hj = HamiltonJacobi(x**2 / 2, coords=[x], hamiltonian=lambda q: sp.sqrt(1 + q[0] ** 2) - 1,
                        beta=4.0)
    sol = hj.discretize(ns.Grid(80, [(-3, 3)], bc="neumann"), backend="numpy",
                        scheme="lax-friedrichs").solve(0.3)
    assert np.all(np.isfinite(sol.u)) and sol.u.min() < 0.15
    with pytest.raises(DiscretizationError, match="coordinates"):
        hj.discretize(ns.Grid((8, 8)), backend="numpy")
    with pytest.raises(DiscretizationError, match="cfl"):
        hj.discretize(ns.Grid(8), backend="numpy", cfl=2.0)


def test_snapshots_and_interrupt_safe_result():
    hj = HamiltonJacobi(F1, coords=[x], beta=2.0)
    s = hj.discretize(ns.Grid(64, [(-4, 4)], bc="neumann"), backend="numpy")
    sol = s.solve(0.4, snapshot_times=[0.1, 0.2])
    assert sol.times == [0.1, 0.2] and len(sol.snapshots) == 2 and sol.t == pytest.approx(0.4)
    assert "np.maximum" in s.source()
