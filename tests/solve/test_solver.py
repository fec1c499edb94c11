"""The integration controller: stops, snapshots, blow-up, checkpoints, resume, Ctrl-C."""

import json

import numpy as np
import pytest

from nedsym.errors import BlowUpError, SolverError
from nedsym.solve import integrate, load_checkpoint


def heat_rhs(t, y, out):
    """Periodic 1-D heat equation (second differences) with a time-dependent forcing."""
    out[...] = 40.0 * (np.roll(y, 1, -1) - 2 * y + np.roll(y, -1, -1)) + 0.1 * np.sin(t)


def _y0():
    return np.random.default_rng(0).normal(size=(1, 16))


def energy(y):
    return float(0.5 * np.sum((np.roll(y, -1, -1) - y) ** 2))


def test_snapshots_stepped_onto_exactly():
    res = integrate(heat_rhs, _y0(), 0.5, dt=0.003, snapshot_times=[0.0, 0.1, 0.25, 0.5],
                    progress=False)
    assert res.times.tolist() == [0.0, 0.1, 0.25, 0.5]
    assert res.fields.shape == (4, 1, 16)
    np.testing.assert_array_equal(res.fields[-1], res.final)
    assert res.dt_history.min() < 0.003 and res.dt_history.max() == 0.003
    with pytest.raises(SolverError, match="outside"):
        integrate(heat_rhs, _y0(), 0.5, dt=0.01, snapshot_times=[0.7], progress=False)


def test_default_snapshots_and_energy_history():
    res = integrate(heat_rhs, _y0(), 0.2, dt=0.01, energy=energy, energy_every=5,
                    progress=False)
    assert res.times.tolist() == [0.0, 0.2]
    assert res.energy_times.tolist() == pytest.approx([0.0, 0.05, 0.1, 0.15, 0.2])
    assert res.energy[-1] < res.energy[0]
    summary = json.loads(res.to_json())
    assert summary["diagnostics"]["steps"] == 20 and summary["energy_final"] == res.energy[-1]


def test_steady_state_stop_and_max_steps():
    relax = integrate(lambda t, y, out: np.subtract(2.0, y, out=out), np.zeros(4), 100.0,
                      dt=0.1, steady_tol=1e-6, progress=False)
    assert relax.diagnostics["stop_reason"] == "steady"
    assert relax.residual[-1] < 1e-6 <= relax.residual[-2]
    assert relax.t_final < 20 and np.allclose(relax.final, 2.0, atol=1e-6)
    capped = integrate(heat_rhs, _y0(), 1.0, dt=0.001, max_steps=7, progress=False)
    assert capped.diagnostics["stop_reason"] == "max_steps"
    assert capped.diagnostics["steps"] == 7 and capped.t_final == pytest.approx(0.007)


@pytest.mark.filterwarnings("ignore:overflow", "ignore:invalid value")
def test_blow_up_message_names_step_time_dt_and_advice():
    with pytest.raises(BlowUpError) as info:
        integrate(heat_rhs, _y0(), 50.0, dt=0.05, stable_dt=lambda t, y: 2 / (4 * 40.0),
                  progress=False)
    msg = str(info.value)
    assert "NaN/Inf at step" in msg and "dt=0.05" in msg and "t=" in msg
    assert "stable dt is 0.0125" in msg and "reduce dt below 0.0125" in msg
    assert "stepper='semi-implicit'" in msg
    with pytest.raises(BlowUpError, match="halve it"):
        integrate(heat_rhs, _y0(), 50.0, dt=0.05, progress=False)


def _run(stepper, **kw):
    dt = 0.004 if stepper != "rk45" else None
    return integrate(heat_rhs, _y0(), 0.6, stepper=stepper, dt=dt, rtol=1e-5,
                     energy=energy, energy_every=3, snapshot_times=[0.1, 0.35], steady_tol=1e-9,
                     progress=False, **kw)


class Interrupter:
    """rhs that raises KeyboardInterrupt on its ``at``-th call (as Ctrl-C inside rhs would)."""

    def __init__(self, at):
        self.at, self.calls = at, 0

    def __call__(self, t, y, out):
        self.calls += 1
        if self.calls == self.at:
            raise KeyboardInterrupt
        heat_rhs(t, y, out)


@pytest.mark.parametrize("stepper", ["rk4", "rk45"])
def test_interrupt_checkpoint_resume_bit_for_bit(tmp_path, stepper):
    ref = _run(stepper)
    ck = tmp_path / "run.npz"
    rhs = Interrupter(at=157)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        part = integrate(rhs, _y0(), 0.6, stepper=stepper, dt=0.004 if stepper != "rk45" else None,
                         rtol=1e-5, energy=energy, energy_every=3, snapshot_times=[0.1, 0.35],
                         steady_tol=1e-9, progress=False, checkpoint=str(ck))
    assert part.interrupted and part.diagnostics["stop_reason"] == "interrupted"
    assert 0 < part.t_final < 0.6 and ck.exists()
    saved = load_checkpoint(ck)
    assert float(saved["t"]) == part.t_final and int(saved["step"]) == part.diagnostics["steps"]
    resumed = _run(stepper, resume=str(ck))
    assert resumed.diagnostics["resumed"]
    np.testing.assert_array_equal(resumed.final, ref.final)
    np.testing.assert_array_equal(resumed.energy, ref.energy)
    np.testing.assert_array_equal(resumed.energy_times, ref.energy_times)
    np.testing.assert_array_equal(resumed.dt_history, ref.dt_history)
    np.testing.assert_array_equal(resumed.residual, ref.residual)
    np.testing.assert_array_equal(resumed.fields, ref.fields)
    assert resumed.times.tolist() == ref.times.tolist() == [0.1, 0.35]
    assert resumed.diagnostics["steps"] == ref.diagnostics["steps"]
    assert resumed.diagnostics["rejected_steps"] == ref.diagnostics["rejected_steps"]


def test_periodic_checkpoints_and_rng_state(tmp_path):
    ck = tmp_path / "c.npz"
    rng = np.random.default_rng(5)

    def noisy(t, y, out):
        out[...] = -y + 0.01 * rng.standard_normal(y.shape)

    integrate(noisy, np.ones(3), 0.05, dt=0.01, checkpoint=str(ck), checkpoint_every=2,
              max_steps=4, rng=rng, progress=False)
    saved = load_checkpoint(ck)
    assert int(saved["step"]) == 4 and "rng_state" in saved
    after = rng.standard_normal()
    rng2 = np.random.default_rng(123)
    rng_probe = np.random.default_rng(123)
    integrate(noisy, np.ones(3), 0.04, dt=0.01, resume=str(ck), rng=rng2, max_steps=4,
              progress=False)
    assert rng2.standard_normal() != rng_probe.standard_normal()
    rng2.bit_generator.state = json.loads(str(saved["rng_state"]))
    assert rng2.standard_normal() == after
    with pytest.raises(SolverError, match="does not exist"):
        integrate(noisy, np.ones(3), 1.0, dt=0.1, resume=str(tmp_path / "nope.npz"),
                  progress=False)


def test_interrupt_raise_mode_writes_checkpoint(tmp_path):
    ck = tmp_path / "r.npz"
    with pytest.raises(KeyboardInterrupt):
        integrate(Interrupter(at=9), _y0(), 1.0, dt=0.001, checkpoint=str(ck),
                  on_interrupt="raise", progress=False)
    assert int(load_checkpoint(ck)["step"]) == 2      # rk4: 4 rhs calls per step


def test_progress_bar_to_stderr(capsys):
    integrate(heat_rhs, _y0(), 0.1, dt=0.01, energy=energy, progress=True)
    err = capsys.readouterr().err
    assert "t=0.1/0.1" in err
    integrate(heat_rhs, _y0(), 0.1, dt=0.01, progress=False)
    assert capsys.readouterr().err == ""


def test_real_sigint_is_deferred_to_the_end_of_the_step(tmp_path):
    import os
    import signal

    calls = []

    def rhs(t, y, out):
        calls.append(t)
        if len(calls) == 6:          # inside step 2 of rk4
            os.kill(os.getpid(), signal.SIGINT)
        heat_rhs(t, y, out)

    before = signal.getsignal(signal.SIGINT)   # SIG_IGN when pytest runs in the background
    with pytest.warns(RuntimeWarning, match="interrupted"):
        res = integrate(rhs, _y0(), 1.0, dt=0.001, checkpoint=str(tmp_path / "s.npz"),
                        progress=False)
    assert res.interrupted and res.diagnostics["steps"] == 2 and len(calls) == 8
    assert signal.getsignal(signal.SIGINT) is before       # the caller's handler is back
