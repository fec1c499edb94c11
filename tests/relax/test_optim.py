"""Optimizers: wide vs sharp well, effective-epoch accounting, determinism, errors."""

import math

import numpy as np
import pytest

from nedsym.errors import BlowUpError, SolverError
from nedsym.relax import SGD, EntropySGD, HJProx, Loss, Nesterov, Objective
from nedsym.relax.landscapes import wide_sharp_1d


def _f(x):
    z = x[0]
    return (-1.2 * math.exp(-(z + 1) ** 2 / (2 * 0.05**2)) - math.exp(-(z - 1) ** 2 / 0.5)
            + 0.05 * z * z)


def _g(x):
    z = x[0]
    return np.array([1.2 * (z + 1) / 0.05**2 * math.exp(-(z + 1) ** 2 / (2 * 0.05**2))
                     + (z - 1) / 0.25 * math.exp(-(z - 1) ** 2 / 0.5) + 0.1 * z])


def _basin(x0: float) -> float:
    """Where plain gradient descent on f from x0 ends (the basin x0 lies in)."""
    x = np.array([x0])
    for _ in range(20000):
        x = x - 0.002 * _g(x)
    return float(x[0])


def test_fast_gradient_matches_the_symbolic_landscape():
    f = Loss.from_expr(wide_sharp_1d())
    for z in (-1.03, -0.9, 0.2, 1.4):
        assert f(np.array([z])) == pytest.approx(_f([z]), rel=1e-12)
        assert f.grad(np.array([z]))[0] == pytest.approx(_g([z])[0], rel=1e-10)


def test_wide_beats_sharp():
    obj = Objective(_f, _g)
    gd = SGD(lr=0.002).run(obj, [-0.9], epochs=3000)
    assert gd.x[0] == pytest.approx(-1.0, abs=0.01)        # the sharp well
    wide = _basin(1.0)
    assert wide == pytest.approx(0.98, abs=0.02)
    opt = EntropySGD(lr=0.02, gamma=1.0, beta=2.0, inner_steps=100, inner_lr=0.003,
                     alpha=0.02, warm_start=True)          # Nesterov 0.9 outer step
    hits = 0
    for seed in range(10):
        r = opt.run(obj, [-0.9], epochs=100 * 150, seed=seed, record_trajectory=False)
        assert r.steps == 150 and r.grad_evals == 15000
        hits += abs(_basin(r.x[0]) - wide) < 1e-3 and abs(r.x[0] - wide) < 1.0
    assert hits >= 8


def test_effective_epochs_and_determinism():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(40, 3))
    b = A @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=40)

    def loss(w):
        return float(np.mean((A @ w - b) ** 2) / 2)

    def grad(w, rng):
        idx = rng.choice(40, size=10, replace=False)
        return A[idx].T @ (A[idx] @ w - b[idx]) / 10

    obj = Objective(loss, grad, batches_per_epoch=4)
    methods = [SGD(lr=0.05), Nesterov(lr=0.02),
               EntropySGD(lr=0.1, gamma=0.5, beta=1e3, inner_steps=4, inner_lr=0.05),
               HJProx(lr=0.3, t=0.2, iterations=4, damping=0.7)]
    for m in methods:
        r1 = m.run(obj, np.zeros(3), epochs=20, seed=3)
        r2 = m.run(obj, np.zeros(3), epochs=20, seed=3)
        assert np.array_equal(r1.x, r2.x), m.name
        assert r1.grad_evals == 80 and len(r1.losses) == 21 and r1.epochs[-1] == 20
        assert r1.steps == 80 // m.evals_per_step
        assert r1.losses[-1] < 0.2 * r1.losses[0], (m.name, r1.losses[-1], r1.losses[0])


@pytest.mark.filterwarnings("ignore:overflow")
def test_blow_up_and_bad_options():
    obj = Objective(lambda x: float(x @ x), lambda x: 2 * x)
    with pytest.raises(BlowUpError, match="reduce the learning rate"):
        SGD(lr=5000.0).run(obj, np.ones(2), epochs=400)
    with pytest.raises(SolverError, match="lr"):
        SGD(lr=-1)
    with pytest.raises(SolverError, match="inner_steps"):
        EntropySGD(inner_steps=0)
    with pytest.raises(SolverError, match="damping"):
        HJProx(damping=0)
    with pytest.raises(SolverError, match="Objective"):
        SGD(lr=0.1).run(lambda x: x, np.ones(1), epochs=1)


def test_interrupt_keeps_the_result_so_far():
    obj = Objective(lambda x: float(x @ x), lambda x: 2 * x)

    def stop(k, x):
        if k == 4:
            raise KeyboardInterrupt

    r = SGD(lr=0.1).run(obj, np.ones(2), epochs=100, callback=stop)
    assert r.stop_reason == "interrupted" and r.steps == 5 and len(r.trajectory) == 6
