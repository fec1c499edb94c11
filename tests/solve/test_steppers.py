"""Convergence orders and error control of the explicit steppers."""

import numpy as np
import pytest

from nedsym.errors import SolverError
from nedsym.solve import integrate, make_stepper


def decay(t, y, out):
    np.negative(y, out=out)


def _err(stepper, dt):
    res = integrate(decay, np.ones(3), 1.0, stepper=stepper, dt=dt, progress=False)
    return abs(res.final[0] - np.exp(-1.0)), res


@pytest.mark.parametrize("stepper,order", [("euler", 1), ("rk4", 4)])
def test_fixed_step_order(stepper, order):
    e1, r1 = _err(stepper, 0.1)
    e2, _ = _err(stepper, 0.05)
    assert abs(np.log2(e1 / e2) - order) < 0.15
    assert r1.diagnostics["steps"] == 10 and len(r1.dt_history) == 10
    assert r1.t_final == 1.0


@pytest.mark.parametrize("stepper", ["rk45", "rk23"])
@pytest.mark.parametrize("rtol", [1e-4, 1e-7])
def test_adaptive_meets_tolerance(stepper, rtol):
    def osc(t, y, out):   # y'' = -y as a system, exact: cos, -sin
        out[0] = y[1]
        out[1] = -y[0]

    res = integrate(osc, np.array([1.0, 0.0]), 3.0, stepper=stepper, rtol=rtol, atol=rtol * 1e-2,
                    progress=False)
    err = np.abs(res.final - [np.cos(3.0), -np.sin(3.0)]).max()
    assert err < 20 * rtol
    assert res.diagnostics["stepper"] == stepper
    assert len(res.dt_history) == res.diagnostics["steps"] > 3


def test_adaptive_rejects_and_counts():
    # a huge first step must be rejected; the step size then adapts to the fast decay
    res = integrate(lambda t, y, out: np.multiply(y, -50.0, out=out), np.ones(1), 1.0,
                    stepper="rk45", dt=0.5, rtol=1e-8, atol=1e-12, progress=False)
    assert res.diagnostics["rejected_steps"] >= 1
    assert abs(res.final[0] - np.exp(-50.0)) < 1e-12
    assert res.dt_history.max() > 5 * res.dt_history.min()


def test_unknown_stepper_lists_names():
    with pytest.raises(SolverError, match="unknown stepper 'rk5'.*'rk4'"):
        make_stepper("rk5")
    with pytest.raises(SolverError, match="linear=L_hat"):
        make_stepper("semi-implicit")
    with pytest.raises(SolverError, match="pass dt="):
        integrate(decay, np.ones(1), 1.0, stepper="rk4", progress=False)


def test_no_allocation_per_step_rk4():
    import tracemalloc

    y = np.ones(10_000)
    st = make_stepper("rk4")
    out = np.empty_like(y)
    st.bind(decay, y)
    st.step(0.0, y, 0.1, out)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(5):
        st.step(0.0, y, 0.1, out)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    # count what the stepper's own lines allocated (threads left by other tests, such as a
    # Dask client's, allocate concurrently and would show in the global peak)
    only = [tracemalloc.Filter(True, "*nedsym/solve/steppers.py")]
    grown = sum(s.size_diff for s in after.filter_traces(only).compare_to(
        before.filter_traces(only), "filename"))
    assert grown < 10_000 * 8 / 2    # less than half of one state array
