import numpy as np
import pytest
import sympy as sp

import nedsym as ns
from nedsym.symbolic.operators import Mean
from nedsym.verify.oracle import equivalent
from nedsym.verify.spectral import PeriodicSampler

x, y = ns.coords("x y")
u = ns.Field("u", (x, y))
eps = ns.Param("eps", 0.3)
E = ns.Energy(eps**2 / 2 * ns.dot(ns.grad(u), ns.grad(u)) + (u**2 - 1) ** 2 / 4, [u])
mu = E.variational_derivative(u)


def lap2(f):
    return f.diff(x, 2) + f.diff(y, 2)


def test_l2_is_minus_mu():
    flow = ns.GradientFlow(E, "L2")
    assert equivalent(flow.rhs[u], -mu)
    assert equivalent(ns.GradientFlow(E, "L2", mobility=2 * eps).rhs[u], -2 * eps * mu)


def test_h_minus_one_is_cahn_hilliard():
    flow = ns.GradientFlow(E, "H-1")
    assert equivalent(flow.rhs[u], lap2(mu))


def test_wasserstein_default_mobility_is_density():
    flow = ns.GradientFlow(E, ns.Wasserstein())
    expected = sp.diff(u * mu.diff(x), x) + sp.diff(u * mu.diff(y), y)
    assert equivalent(flow.rhs[u], expected)
    m = u * (1 - u)
    flow2 = ns.GradientFlow(E, "H-1", mobility=m)
    assert equivalent(flow2.rhs[u], sp.diff(m * mu.diff(x), x) + sp.diff(m * mu.diff(y), y))


def test_conserved_l2_subtracts_mean():
    flow = ns.GradientFlow(E, "L2-conserved")
    assert flow.rhs[u].has(Mean)
    assert sp.simplify(flow.rhs[u] - (-(mu - Mean(mu)))) == 0


def test_coupled_matrix_mobility():
    v = ns.Field("v", (x, y))
    E2 = ns.Energy(ns.dot(ns.grad(u), ns.grad(u)) / 2 + u**2 * v**2 + v**2 / 2, [u, v])
    M = sp.Matrix([[2, 1], [1, 3]])
    flow = ns.GradientFlow(E2, "L2", mobility=M)
    mu_u, mu_v = E2.variational_derivative(u), E2.variational_derivative(v)
    assert equivalent(flow.rhs[u], -(2 * mu_u + mu_v))
    assert equivalent(flow.rhs[v], -(mu_u + 3 * mu_v))


def _sample(expr, grid, state):
    """Evaluate an expression in u and its derivatives on the periodic sampler."""
    occ = sorted(expr.atoms(sp.Derivative), key=str) + [u]
    vals = [grid.derivative(state, [v for v, n in d.variable_count for _ in range(n)])
            if isinstance(d, sp.Derivative) else state for d in occ]
    dummies = [sp.Dummy() for _ in occ]
    e = expr.xreplace(dict(zip(occ, dummies, strict=True))).xreplace({eps: 0.3})
    return np.broadcast_to(sp.lambdify(list(dummies), e)(*vals), state.shape)


@pytest.mark.parametrize("metric", ["L2", "H-1"])
def test_dissipation_equals_energy_rate(metric):
    """dE/dt = ∫ μ ∂t u must equal the metric's dissipation, and be ≤ 0."""
    flow = ns.GradientFlow(E, metric)
    grid = PeriodicSampler((x, y), n=64)
    state = grid.sample(sp.sin(x) * sp.cos(y) + sp.cos(2 * x) / 3)
    rate = grid.integrate(_sample(mu, grid, state) * _sample(flow.rhs[u], grid, state))
    (integral,) = flow.dissipation.atoms(sp.Integral)
    assert flow.dissipation == -integral
    diss = -grid.integrate(_sample(integral.function, grid, state))
    assert rate < 0
    assert np.isclose(rate, diss, rtol=1e-8)


def test_pretty_and_latex():
    flow = ns.GradientFlow(E, "H-1")
    text = flow.pretty()
    assert "∂u/∂t" in text and "u_xxxx" in text and "dE/dt" in text
    assert r"\partial_t u" in flow.latex() and "u_{xxxx}" in flow.latex()
