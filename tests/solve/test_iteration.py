"""The shared iteration loop: NED and its baselines, relax optimizers, width-depth training
and the HJ grid solver all stop on Ctrl-C with their state, blow up with advice, and resume
from a checkpoint to the same result as one uninterrupted run."""

import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import nedsym as ns
from nedsym.errors import BlowUpError, SolverError
from nedsym.methods.ned import NED
from nedsym.relax import EntropySGD, Objective
from nedsym.relax.optim import SGD
from nedsym.solve.iteration import Iteration, NonFiniteStep, iterate

sys.path.insert(0, str(Path(__file__).parent))
from ned_models import FrozenFeatures  # noqa: E402

x, = ns.coords("x")
u = ns.Field("u", (x,))
FIT = ns.Energy((u - sp.sin(2 * sp.pi * x)) ** 2 / 2, fields=[u])


class Growth(Iteration):
    name = "growth"
    health = ("x",)

    def __init__(self, factor=2.0):
        self.x, self.factor = 1.0, factor

    def step(self, k):
        new = self.x * self.factor
        if not np.isfinite(new):
            raise NonFiniteStep("x overflowed")
        self.x = new
        return {"x": new}

    def state_dict(self):
        return {"x": self.x}

    def load_state_dict(self, st):
        self.x = float(st["x"])

    def meta(self):
        return {"factor": self.factor}


def test_blow_up_keeps_the_last_good_state_and_names_the_step():
    g = Growth(1e200)
    with pytest.raises(BlowUpError, match="growth blew up at iteration 1: x overflowed") as e:
        iterate(g, 5)
    assert e.value.step == 1 and g.x == 1e200


def test_resume_equals_one_run_and_refuses_a_changed_run(tmp_path):
    ck = str(tmp_path / "g.npz")
    whole = iterate(Growth(1.5), 8)
    first = iterate(Growth(1.5), 3, checkpoint=ck)
    assert first.steps == 3
    g = Growth(1.5)
    rest = iterate(g, 8, resume=ck)
    assert rest.resumed_from == 3 and rest.steps == 8
    np.testing.assert_array_equal(rest.history["x"], whole.history["x"])
    with pytest.raises(SolverError, match="factor=2.0 \\(checkpoint: 1.5\\)"):
        iterate(Growth(2.0), 8, resume=ck)
    iterate(Growth(1.5), 8, checkpoint=ck)
    with pytest.raises(SolverError, match="already has 8"):
        iterate(Growth(1.5), 4, resume=ck)


def test_bad_arguments_and_corrupt_checkpoints_are_refused(tmp_path):
    with pytest.raises(SolverError, match="steps must be an integer"):
        iterate(Growth(), -1)
    with pytest.raises(SolverError, match="checkpoint_every"):
        iterate(Growth(), 3, checkpoint=str(tmp_path / "a.npz"), checkpoint_every=0)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(SolverError, match="not a readable nedsym checkpoint"):
        iterate(Growth(), 3, resume=str(bad))
    with pytest.raises(SolverError, match="folder .* does not exist"):
        iterate(Growth(), 3, checkpoint=str(tmp_path / "no" / "a.npz"))


def test_first_ctrl_c_is_deferred_to_the_end_of_the_step(tmp_path):
    ck = str(tmp_path / "g.npz")

    def hit(k, rec):
        if k == 2:
            signal.raise_signal(signal.SIGINT)

    out = iterate(Growth(), 10, callback=hit, checkpoint=ck)
    assert out.interrupted and out.steps == 3
    assert float(np.load(ck)["k"]) == 3


def _ned(**kw):
    opts = dict(points=40, dt=0.5, resample=True, seed=5)
    opts.update(kw)
    return NED(FIT, FrozenFeatures(1, 10, seed=2), ns.Box([(-1, 1)]), **opts)


@pytest.mark.parametrize("resample", [True, False])
def test_ned_resume_from_a_file_equals_one_run(tmp_path, resample):
    ck = str(tmp_path / "ned.npz")
    whole = _ned(resample=resample).run(6)
    _ned(resample=resample).run(2, checkpoint=ck)
    again = _ned(resample=resample).run(6, resume=ck)
    np.testing.assert_array_equal(again.theta, whole.theta)
    np.testing.assert_array_equal(again.history["energy"], whole.history["energy"])
    with pytest.raises(SolverError, match="dt=0.25"):
        _ned(resample=resample, dt=0.25).run(6, resume=ck)


def test_ned_ctrl_c_keeps_the_parameters_and_continues_like_one_run():
    whole = _ned().run(6)
    ned = _ned()

    def hit(k, theta, info):
        if k == 1:
            signal.raise_signal(signal.SIGINT)

    part = ned.run(6, callback=hit)
    assert part.interrupted and part.steps == 2
    np.testing.assert_array_equal(ned.theta, part.theta)
    rest = ned.run(4)
    np.testing.assert_array_equal(rest.theta, whole.theta)


def test_ned_baseline_adam_resumes_with_its_moments(tmp_path):
    ck = str(tmp_path / "adam.npz")
    whole = _ned().baseline("adam", 7, lr=1e-2)
    _ned().baseline("adam", 3, lr=1e-2, checkpoint=ck)
    again = _ned().baseline("adam", 7, lr=1e-2, resume=ck)
    np.testing.assert_array_equal(again.theta, whole.theta)
    with pytest.raises(SolverError, match="lr"):
        _ned().baseline("adam", 7, lr=2e-2, resume=ck)


def test_relax_optimizer_ctrl_c_and_resume(tmp_path):
    obj = Objective(lambda z: float(z @ z) / 2, lambda z, rng: z + 0.1 * rng.standard_normal(2))
    opt = EntropySGD(lr=0.5, gamma=1.0, beta=100.0, inner_steps=4, inner_lr=0.05,
                     warm_start=True)
    whole = opt.run(obj, np.ones(2), epochs=40, seed=1)

    def hit(k, z):
        if k == 3:
            signal.raise_signal(signal.SIGINT)

    ck = str(tmp_path / "esgd.npz")
    part = opt.run(obj, np.ones(2), epochs=40, seed=1, callback=hit, checkpoint=ck)
    assert part.stop_reason == "interrupted" and part.steps == 4
    again = opt.run(obj, np.ones(2), epochs=40, seed=1, resume=ck)
    np.testing.assert_array_equal(again.x, whole.x)
    assert again.losses == whole.losses and again.steps == whole.steps
    np.testing.assert_array_equal(again.trajectory, whole.trajectory)


def test_relax_blow_up_carries_the_last_good_parameters():
    obj = Objective(lambda z: float(z @ z), lambda z: 2 * z)
    with pytest.raises(BlowUpError, match="reduce the learning rate") as e:
        SGD(lr=1e150).run(obj, np.ones(2), epochs=10)
    assert np.all(np.isfinite(e.value.state))


def test_width_depth_training_stops_on_ctrl_c_with_consistent_parameters():
    from nedsym.depth import WidthDepthModel

    m = WidthDepthModel(K=8, steps=4)
    w, b = m.init_params(seed=0)
    xi = np.linspace(-1, 1, 6)[:, None]
    target = np.sin(np.pi * xi[:, 0]) / 2

    def hit(k, g):
        if k == 2:
            signal.raise_signal(signal.SIGINT)

    h = m.train(xi, target, w, b, lr=0.2, iters=10, callback=hit)
    assert h.interrupted and len(h.loss) == 3
    # the parameters are those of the last recorded loss
    assert m.loss(xi, target, h.w, h.b) == pytest.approx(h.loss[-1], rel=1e-12)


def test_hj_grid_solver_runs_on_the_controller(tmp_path):
    from nedsym.flows import HamiltonJacobi

    hj = HamiltonJacobi(sp.sin(2 * x) + x**2 / 4, coords=[x], beta=2.0)
    s = hj.discretize(ns.Grid(64, [(-4, 4)], bc="neumann"), backend="numpy")
    a = s.solve(0.3)
    b = s.solve(0.3, stepper="ssprk2")
    assert a.t == pytest.approx(0.3) and a.steps > 10
    assert 0 < np.max(np.abs(a.u - b.u)) < 5e-2   # first order in time, dt ~ 0.014
    ck = str(tmp_path / "hj.npz")
    s.solve(0.3, checkpoint=ck)
    np.testing.assert_array_equal(s.solve(0.3, resume=ck).u, a.u)
