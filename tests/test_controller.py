"""The run controller on the public path (``sim.solve``): compiled segments against the NumPy
reference, honest failure (blow-up, energy rise, NaN input), automatic dt, Ctrl-C and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import nedsym as ns
from nedsym.errors import BlowUpError, SolverError
from nedsym.solve import Tracker

COORDS = {1: "x", 2: "x y", 3: "x y z"}
SHAPES = {1: (24,), 2: (12, 10), 3: (6, 5, 4)}


def _bc(kind: str, ndim: int):
    if kind == "varying":
        return ns.Dirichlet(lambda *c: 0.3 * np.sin(3 * c[-1]) + 0.1 * c[0])
    return {"periodic": "periodic", "neumann": ns.Neumann(0.2),
            "dirichlet": ns.Dirichlet(0.25)}[kind]


BCS = ["periodic", "neumann", "dirichlet", "varying"]


def _cases(steppers, full_3d, slow=()):
    """``(stepper, bc, ndim)`` for every combination; the 3-D ones of the steppers not in
    ``full_3d``, and the ``(stepper, ndim)`` pairs in ``slow``, are marked slow (their numba
    compilation is most of the default suite's time; euler keeps the 2-D and 3-D segment
    kernels in the default run, the other steppers their 1-D ones; the rest runs under
    ``-m slow``)."""
    return [pytest.param(stepper, bc, ndim,
                         marks=[pytest.mark.slow] if (ndim == 3 and stepper not in full_3d)
                         or (stepper, ndim) in slow else [])
            for stepper in steppers for bc in BCS for ndim in (1, 2, 3)]


def _sim(ndim: int, bc, backend: str):
    E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4 + 0.1*x*u", coords=COORDS[ndim],
                        fields="u", params={"eps": 0.2})
    grid = ns.Grid(SHAPES[ndim], [(0, 1)] * ndim, bc=bc)
    return ns.GradientFlow(E).discretize(grid, backend=backend)


@pytest.mark.parametrize("stepper,bc,ndim", _cases(["euler", "ssprk3", "rk4"], {"euler"},
                                                   {("ssprk3", 2), ("rk4", 2)}))
def test_compiled_segments_match_the_numpy_reference(stepper, bc, ndim):
    ref = _sim(ndim, _bc(bc, ndim), "numpy")
    fast = _sim(ndim, _bc(bc, ndim), "numba")
    y0 = ref.initial("random", seed=3, amplitude=0.3)
    opts = dict(stepper=stepper, dt=2e-3, snapshot_times=[0.013, 0.05], progress=False,
                energy_every=7)
    a = ref.solve(y0, 0.061, **opts)
    b = fast.solve(y0, 0.061, **opts)
    assert b.diagnostics["segments"] < b.diagnostics["steps"]     # many steps per call
    assert a.diagnostics["steps"] == b.diagnostics["steps"]
    np.testing.assert_allclose(b.final, a.final, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.fields, a.fields, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(b.times, a.times)
    np.testing.assert_allclose(b.energy, a.energy, rtol=1e-12, atol=1e-13)
    assert np.isclose(b.times[-1], 0.05) and b.t_final == 0.061


@pytest.mark.parametrize("stepper,bc,ndim", _cases(["rk45", "rk23"], set(),
                                                   {("rk45", 2), ("rk23", 2)}))
def test_compiled_adaptive_steps_match_the_numpy_reference(stepper, bc, ndim):
    """rk45/rk23 on the numba backend: one compiled call per attempt, the error norm fused;
    the same accepted and rejected steps, states and energies as the NumPy reference."""
    ref = _sim(ndim, _bc(bc, ndim), "numpy")
    fast = _sim(ndim, _bc(bc, ndim), "numba")
    y0 = ref.initial("random", seed=3, amplitude=0.3)
    opts = dict(stepper=stepper, snapshot_times=[0.013, 0.05], progress=False, energy_every=3,
                rtol=1e-5, atol=1e-8)
    a = ref.solve(y0, 0.061, **opts)
    b = fast.solve(y0, 0.061, **opts)
    assert type(fast._compiled[stepper]).__name__ == "CompiledEmbeddedGridStepper"
    assert a.diagnostics["steps"] == b.diagnostics["steps"] > 3
    assert a.diagnostics["rejected_steps"] == b.diagnostics["rejected_steps"]
    np.testing.assert_allclose(b.dt_history, a.dt_history, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.final, a.final, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b.fields, a.fields, rtol=0, atol=1e-12)
    # the fused kernel sums the stages in another order than the NumPy axpy's: round-off
    # in the state, amplified by the gradient term of the energy (1/h^2)
    np.testing.assert_allclose(b.energy, a.energy, rtol=1e-11, atol=1e-13)
    assert np.isclose(b.times[-1], 0.05) and b.t_final == 0.061


def test_compiled_adaptive_step_rejects_and_reuses_the_first_stage():
    """A tight tolerance from a large first step forces rejections; the compiled run takes
    the same decisions as the reference, and a repeated solve reuses the kernel."""
    ref = _sim(2, "periodic", "numpy")
    fast = _sim(2, "periodic", "numba")
    y0 = ref.initial("random", seed=5, amplitude=0.4)
    opts = dict(stepper="rk45", dt=0.05, progress=False, rtol=1e-9, atol=1e-12)
    a = ref.solve(y0, 0.02, **opts)
    b = fast.solve(y0, 0.02, **opts)
    assert a.diagnostics["rejected_steps"] == b.diagnostics["rejected_steps"] > 0
    np.testing.assert_allclose(b.final, a.final, rtol=0, atol=1e-12)
    kernel = fast._compiled["rk45"].kernel
    c = fast.solve(y0, 0.02, **opts)
    assert fast._compiled["rk45"].kernel is kernel
    np.testing.assert_array_equal(c.final, b.final)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("stepper", ["euler", "ssprk3", "rk4"])
def test_blow_up_stops_with_advice_that_works(stepper, backend):
    sim = _sim(2, "periodic", backend)
    y0 = sim.initial("random", seed=0, amplitude=0.3)
    dt_stable = sim.stable_dt(0.0, y0, stepper=stepper)
    with pytest.raises(BlowUpError) as info:
        sim.solve(y0, 2.0, stepper=stepper, dt=6 * dt_stable, progress=False)
    err = info.value
    assert err.advised_dt is not None and err.advised_dt < 6 * dt_stable
    assert f"dt={6 * dt_stable:.3g}" in str(err) and "last good state" in str(err)
    assert np.isfinite(err.state).all() and err.step is not None
    # the advice is honest: the same run at the advised dt finishes with a monotone energy
    res = sim.solve(y0, 2.0, stepper=stepper, dt=err.advised_dt, progress=False)
    assert np.all(np.diff(res.energy) <= 1e-12)


def test_energy_rise_is_a_failure_even_when_the_state_stays_finite():
    sim = _sim(1, "periodic", "numba")
    y0 = sim.initial("random", seed=1, amplitude=0.5)
    dt = 1.05 * sim.stable_dt(0.0, y0, stepper="euler") / 0.9   # just past the limit
    with pytest.raises(BlowUpError) as info:
        sim.solve(y0, 5.0, stepper="euler", dt=dt, progress=False)
    assert info.value.reason in ("energy rose", "non-finite")
    res = sim.solve(y0, 5.0, stepper="euler", dt=dt, progress=False, monotone_energy=None,
                    max_steps=5)
    assert res.diagnostics["steps"] == 5       # the check can be switched off


def test_nan_initial_state_is_refused_as_such():
    sim = _sim(1, "periodic", "numba")
    y0 = sim.initial("random", seed=0)
    y0[0, 3] = np.nan
    with pytest.raises(SolverError, match="initial state contains NaN"):
        sim.solve(y0, 1.0, stepper="rk4", progress=False)


def test_automatic_dt_follows_the_state():
    """Allen–Cahn on a coarse grid: the dt estimated at the small initial state is too large
    once phases reach ±1; the automatic step must shrink and the energy stay monotone."""
    E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y", fields="u",
                        params={"eps": 0.02})
    sim = ns.GradientFlow(E).discretize(ns.Grid((32, 32), [(0, 1), (0, 1)]), backend="numba")
    y0 = sim.initial("random", seed=0)
    res = sim.solve(y0, 40.0, stepper="euler", progress=False)
    assert res.diagnostics["auto_dt"] and res.diagnostics["dt_adjustments"]
    # the same run held at the initial dt fails its health check
    with pytest.raises(BlowUpError):
        sim.solve(y0, 40.0, stepper="euler", dt=res.dt_history[0], progress=False)
    assert res.dt_history.min() < 0.8 * res.dt_history[0]
    assert np.all(np.diff(res.energy) <= 1e-12) and np.isfinite(res.final).all()


def test_recording_interval_is_chosen_and_recorded():
    sim = _sim(2, "periodic", "numba")
    res = sim.solve(sim.initial("random", seed=0), 1.0, stepper="euler", dt=1e-4,
                    progress=False)
    every = res.diagnostics["energy_every"]
    assert every >= 5 and res.diagnostics["steps"] == 10_000
    assert len(res.energy) <= 10_000 // every + 8        # a few records before it is chosen
    assert np.all(np.diff(res.energy_times) > 0) and res.energy_times[-1] == 1.0
    assert res.energy[-1] == pytest.approx(sim.energy(res.final), rel=1e-12)
    assert res.diagnostics["segments"] < res.diagnostics["steps"] / 4


class _SigintAt(Tracker):
    name = "sigint"

    def __init__(self, step):
        self.at = step

    def handle(self, state):
        if state.step >= self.at and self.at is not None:
            self.at = None
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_keeps_state_and_resume_equals_an_uninterrupted_run(tmp_path):
    sim = _sim(2, "neumann", "numba")
    y0 = sim.initial("random", seed=2)
    # a fixed recording interval: "auto" picks it from wall-clock measurements, so two
    # separate runs may record at different steps (a resumed run keeps the checkpointed one)
    opts = dict(stepper="rk4", dt=1e-3, progress=False, snapshot_times=[0.1, 0.3],
                energy_every=10)
    full = sim.solve(y0, 0.4, **opts)
    ck = str(tmp_path / "run.npz")
    with pytest.warns(RuntimeWarning, match="interrupted"):
        part = sim.solve(y0, 0.4, checkpoint=ck, trackers=[_SigintAt(50)], **opts)
    assert part.interrupted and 50 <= part.diagnostics["steps"] < 400
    assert np.isfinite(part.final).all()
    rest = sim.solve(y0, 0.4, resume=ck, **opts)
    np.testing.assert_array_equal(rest.final, full.final)
    np.testing.assert_array_equal(rest.energy, full.energy)
    np.testing.assert_array_equal(rest.fields, full.fields)
    auto = {**opts, "energy_every": "auto"}
    with pytest.warns(RuntimeWarning, match="interrupted"):
        part = sim.solve(y0, 0.4, checkpoint=ck, trackers=[_SigintAt(50)], **auto)
    rest = sim.solve(y0, 0.4, resume=ck, **auto)
    assert rest.diagnostics["energy_every"] == part.diagnostics["energy_every"]
    np.testing.assert_array_equal(rest.final, full.final)
    with pytest.raises(SolverError, match="stepper"):
        sim.solve(y0, 0.4, resume=ck, **{**opts, "stepper": "euler"})
    with pytest.raises(SolverError, match="dt="):
        sim.solve(y0, 0.4, resume=ck, **{**opts, "dt": 2e-3})


def test_checkpoint_path_is_checked_before_the_run(tmp_path):
    sim = _sim(1, "periodic", "numba")
    with pytest.raises(SolverError, match="does not exist"):
        sim.solve(sim.initial(), 1.0, checkpoint=str(tmp_path / "no" / "run.npz"),
                  progress=False)


def test_stepper_registry_is_the_one_list_of_names():
    from nedsym.solve import STEPPERS

    for name in ("euler", "ssprk3", "rk4", "rk45", "rk23", "semi-implicit", "stabilized"):
        assert name in STEPPERS
    assert STEPPERS["rk4"].stability == pytest.approx(2.785)
    assert STEPPERS["rk45"].adaptive and STEPPERS["semi-implicit"].needs_linear


def test_cli_blow_up_exits_nonzero_with_one_line(tmp_path):
    out = tmp_path / "o"
    proc = subprocess.run(
        [sys.executable, "-m", "nedsym", "run", "allen-cahn", "--n", "32", "--dt", "1",
         "--stepper", "rk4", "--no-progress", "--out", str(out), "--backend", "numpy"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    err = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and "nedsym run: error:" in err[0] and "stable dt" in err[0]
    summary = json.loads((out / "allen-cahn_summary.json").read_text())
    assert summary["status"] == "blew up" and summary["advised_dt"] < 1.0
    assert summary["compile_time_s"] == 0.0  # the numpy backend compiles no step loop


@pytest.mark.parametrize("n", [16, 32])
def test_cahn_hilliard_demo_semi_implicit_conserves_mass_and_energy(n):
    """The demo's default stepper advances the same semi-discrete flow as rk4: mass kept to
    round-off, energy monotone (the split once left the 2-D bilaplacian out of the flux form
    and the mean drifted by 8e-3; the spectral symbols did not match the recorded energy)."""
    import copy

    from nedsym.problems import DEMOS
    from nedsym.runner import _initial, build_simulation

    spec = copy.deepcopy(DEMOS["cahn-hilliard"])
    spec["grid"]["shape"] = [n, n]
    _, _, sim = build_simulation(spec, "numpy")
    y0 = _initial(sim, spec)
    semi = sim.solve(y0, 2e-3, stepper="semi-implicit", dt=1e-5, energy_every=1,
                     progress=False)
    ref = sim.solve(y0, 2e-3, stepper="rk4", dt=1e-5, progress=False)
    assert abs(float(semi.final.mean() - y0.mean())) < 1e-13
    assert np.all(np.diff(semi.energy) <= 1e-12)
    assert np.max(np.abs(semi.final - ref.final)) < 0.05 * np.max(np.abs(ref.final - y0))


def test_semi_implicit_symbols_are_those_of_the_stencils():
    from nedsym.discretize import linear_multiplier

    g = ns.Grid(8, [(0, 1)], bc="periodic")
    h = 1 / 8
    k = 2 * np.pi * np.fft.rfftfreq(8, h)
    L2 = linear_multiplier(g, {(2,): 1.0}, accuracy=2)[0]
    np.testing.assert_allclose(L2, -4 * np.sin(k * h / 2) ** 2 / h ** 2, atol=1e-9)
    spectral = linear_multiplier(g, {(2,): 1.0})[0]
    np.testing.assert_allclose(spectral, -k ** 2)


def test_first_compiled_solve_reports_its_compile_time():
    """The compiled loop's first call (compiling or loading it, and its check against the
    reference) is part of the first solve's wall time; it is reported as such, and a later
    solve of the same simulation, which reuses the kernel, reports none."""
    sim = _sim(1, "periodic", "numba")
    y0 = sim.initial("random", seed=2, amplitude=0.3)
    first = sim.solve(y0, 0.01, stepper="ssprk3", dt=1e-3, progress=False)
    c = first.diagnostics["compile_s"]
    assert 0.0 < c <= first.diagnostics["wall_time"]
    again = sim.solve(y0, 0.01, stepper="ssprk3", dt=1e-3, progress=False)
    assert "compile_s" not in again.diagnostics
    ref = sim.solve(y0, 0.01, stepper="ssprk3", dt=1e-3, progress=False, compiled=False)
    assert "compile_s" not in ref.diagnostics


def test_a_blown_up_first_compiled_solve_reports_its_compile_time():
    """A first compiled solve that blows up spent its compile time too: the error says how
    much (the runner's blow-up summary reports it); a later one reuses the kernel."""
    sim = _sim(1, "periodic", "numba")
    y0 = sim.initial("random", seed=2, amplitude=0.3)
    with pytest.raises(BlowUpError) as info:
        sim.solve(y0, 1.0, stepper="rk4", dt=1.0, progress=False)
    assert info.value.compile_s is not None and info.value.compile_s > 0.0
    with pytest.raises(BlowUpError) as again:
        sim.solve(y0, 1.0, stepper="rk4", dt=1.0, progress=False)
    assert again.value.compile_s is None
