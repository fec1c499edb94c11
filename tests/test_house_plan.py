"""Pieces of the house plan a user touches: the named stages of the grid pipeline, the
discrete metric rules by dispatch, NED's sampled system as its own object."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import nedsym as ns
from nedsym.discretize.lower import discrete_metric_rule
from nedsym.discretize.neural import PointwiseEnergy, SampledSystem
from nedsym.errors import DiscretizationError
from nedsym.flows.metrics import Metric
from nedsym.nn import MLP
from nedsym.quadrature import Points


def _ac(coords="x y"):
    return ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords=coords, fields="u",
                           params={"eps": 0.1})


def test_lower_returns_every_stage_and_matches_the_simulation():
    flow = ns.GradientFlow(_ac())
    grid = ns.Grid((8, 6), [(0, 1), (0, 1)])
    st = ns.lower(flow, grid, backend="numba")
    sim = flow.discretize(grid, backend="numpy")
    assert st.kernels["rhs"].results == sim.kernel_ir.results
    assert st.kernels["energy"].kind == "reduce" and st.halo == sim.halo
    assert "@njit" in st.sources["rhs"] and "def " in st.sources["energy"]
    text = str(st)
    for head in ("# 1. flow", "# 2. lowered", "# 3. kernel IR 'rhs'", "# 4. numba source"):
        assert head in text
    # printing a GPU backend's source needs no GPU library
    assert "__global__" in ns.lower(flow, grid, backend="cupy").sources["rhs"]
    with pytest.raises(ns.errors.BackendUnavailableError, match="unknown backend"):
        ns.lower(flow, grid, backend="fortran")


def test_discrete_metric_rules_dispatch_on_the_metric_class():
    class Odd(Metric):           # a user's metric: a continuous rule, no discrete one yet
        name = "odd"
        rhs = ns.L2.rhs
        dissipation_density = ns.L2.dissipation_density

    grid = ns.Grid((16,), [(0, 1)])
    flow = ns.GradientFlow(_ac("x"), metric=Odd())
    flow.discretize(grid, backend="numpy")                  # the continuous route works
    with pytest.raises(DiscretizationError, match="no discrete rule for metric odd"):
        flow.discretize(grid, backend="numpy", gradient="discrete")

    @discrete_metric_rule.register(Odd)
    def _odd(metric, i, G, M, low):
        return -G[i]

    # (the test's local class stays registered: singledispatch has no unregister)
    sim = flow.discretize(grid, backend="numpy", gradient="discrete")
    ref = ns.GradientFlow(_ac("x")).discretize(grid, backend="numpy", gradient="discrete")
    y = ref.initial("random", seed=0)
    a, b = np.empty_like(y), np.empty_like(y)
    sim.rhs(0.0, y, a)
    ref.rhs(0.0, y, b)
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    # Wasserstein inherits the H-1 rule; L2 has its own
    assert discrete_metric_rule.dispatch(ns.Wasserstein) is \
        discrete_metric_rule.dispatch(ns.Hminus1)
    assert discrete_metric_rule.dispatch(ns.L2) is not discrete_metric_rule.dispatch(ns.Hminus1)


def test_sampled_system_is_what_ned_steps_on():
    x, = ns.coords("x")
    u = ns.Field("u", (x,))
    E = ns.Energy((u - sp.sin(2 * sp.pi * x)) ** 2 / 2, fields=[u])
    net = MLP([1, 8, 1], seed=0)
    ned = ns.NED(E, net, ns.Box([(-1, 1)]), points=64, seed=0)
    sample = ned._draw()
    theta = ned.theta
    mine = SampledSystem(PointwiseEnergy(E), net, implicit=ned.stepper == "implicit")
    a, b = ned.system(theta, sample), mine.system(theta, sample, ned.dt)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[2], b[2])
    assert ned.merit(theta, sample) == mine.merit(theta, sample)
    # shard sums with raw weights add up to the whole sample's normal equations
    raw = SampledSystem(PointwiseEnergy(E), net, implicit=mine.implicit, raw_weights=True)
    pts = sample[0]
    halves = [Points(pts.x[s], pts.w[s]) for s in (slice(0, 30), slice(30, None))]
    parts = [raw.partial_sums(theta, (h, (), None), ned.dt, "system") for h in halves]
    W = sum(p["W"] for p in parts)
    AtA = sum(p["AtA"] for p in parts) / W
    A = a[1]
    np.testing.assert_allclose(AtA, A.T @ A, rtol=1e-12, atol=1e-14)
