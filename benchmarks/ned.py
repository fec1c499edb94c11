"""Neural Energy Descent vs first-order baselines: time to accuracy, in one run.

For each problem, NED and the baselines (Adam, SGD with momentum) train the same network from
the same start on the same sampled energy with the same generated gradients; the script prints
the wall time to reach relative L² errors 1e-3 and 1e-4, the best error reached, and — for the
disk and 5-D Poisson problems — the error Adam reaches in the wall time NED used.

    python benchmarks/ned.py            # all problems
    python benchmarks/ned.py --quick    # fewer steps (a smoke run)

Jacobian kernel timings against a hand-written numpy backprop are in ``benchmarks/nn.py``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # small matrices: threads only add noise

import numpy as np  # noqa: E402
import sympy as sp  # noqa: E402

import nedsym as ns  # noqa: E402
from nedsym.apps.ned_demo import fit_problem, poisson_problem  # noqa: E402
from nedsym.nn import MLP  # noqa: E402


def fit_2d(seed=0):
    x1, x2 = ns.coords("x1 x2")
    v = ns.Field("v", (x1, x2))
    g = sp.sin(sp.pi * x1) * sp.sin(sp.pi * x2)
    E = ns.Energy((v - g) ** 2 / 2, fields=[v])
    return ns.NED(E, MLP([2, 50, 1], seed=seed), ns.Box([(-1, 1), (-1, 1)]), points=1000,
                  dt=0.5, seed=seed, exact=g)


def poisson_disk(seed=0):
    r"""-Δu = f on the unit disk, u = cos(π r²/2) (zero on the circle)."""
    x1, x2 = ns.coords("x1 x2")
    v = ns.Field("v", (x1, x2))
    ex = sp.cos(sp.pi * (x1 ** 2 + x2 ** 2) / 2)
    f = sp.simplify(-(sp.diff(ex, x1, 2) + sp.diff(ex, x2, 2)))
    E = ns.Energy(ns.grad(v).dot(ns.grad(v)) / 2 - f * v, fields=[v], boundary=50 * v ** 2)
    return ns.NED(E, MLP([2, 30, 1], seed=seed), ns.Ball((0, 0), 1), points=800,
                  boundary_points=200, seed=seed, exact=ex)


def poisson_5d(seed=0):
    r"""-Δu = f on [0, 1]^5, u = exp(Σ x_i / 5), u = g on the boundary (penalty)."""
    xs = ns.coords("x1 x2 x3 x4 x5")
    v = ns.Field("v", tuple(xs))
    ex = sp.exp(sum(xs) / 5)
    f = -sum(sp.diff(ex, c, 2) for c in xs)
    E = ns.Energy(ns.grad(v).dot(ns.grad(v)) / 2 - f * v, fields=[v],
                  boundary=50 * (v - ex) ** 2)
    return ns.NED(E, MLP([5, 30, 1], seed=seed), ns.Box([(0, 1)] * 5), points=1000,
                  boundary_points=500, seed=seed, exact=ex)


PROBLEMS = {
    "fit-1d": (fit_problem, 300, {"adam": 1e-2, "sgd": 1e-2}),
    "fit-2d": (fit_2d, 200, {"adam": 1e-2, "sgd": 1e-2}),
    "poisson-1d": (poisson_problem, 100, {"adam": 1e-2, "sgd": 1e-3}),
    "poisson-disk": (poisson_disk, 100, {"adam": 1e-2, "sgd": 1e-3}),
    "poisson-5d": (poisson_5d, 60, {"adam": 1e-2, "sgd": 1e-4}),
}


def _fmt(t: float) -> str:
    return "    —   " if math.isinf(t) else f"{t:8.2f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", help="problem names")
    args = ap.parse_args(argv)
    print(f"nedsym {ns.__version__}, numpy {np.__version__}, {platform.processor() or ''} "
          f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"{'problem':14s} {'method':6s} {'steps':>6s} {'t(1e-3) s':>9s} {'t(1e-4) s':>9s} "
          f"{'best err':>9s} {'wall s':>8s}")
    for name, (make, n_ned, lrs) in PROBLEMS.items():
        if args.only and name not in args.only:
            continue
        ned = make()
        steps = max(10, n_ned // 5) if args.quick else n_ned
        res = {"NED": ned.run(steps)}
        budget = res["NED"].history["wall"][-1]
        for opt, lr in lrs.items():
            # each baseline gets 5x NED's wall time (error checked every 10 steps)
            try:
                res[opt] = _timed_baseline(ned, opt, lr, 5 * budget)
            except ns.errors.BlowUpError as exc:
                print(f"{name:14s} {opt:6s} blew up: {exc}")
        for label, r in res.items():
            h = r.history
            print(f"{name:14s} {label:6s} {r.steps:6d} {_fmt(r.time_to(1e-3))} "
                  f"{_fmt(r.time_to(1e-4))} {np.nanmin(h['error']):9.2e} {h['wall'][-1]:8.2f}")
        for opt in lrs:
            if opt not in res:
                continue
            h = res[opt].history
            within = h["wall"] <= budget
            at_budget = np.nanmin(h["error"][within]) if np.any(within) else math.nan
            print(f"{'':14s} {opt} error within NED's wall time ({budget:.1f} s): "
                  f"{at_budget:.2e} vs NED {res['NED'].history['error'][-1]:.2e}")


def _timed_baseline(ned, opt, lr, seconds):
    """Run a baseline until ``seconds`` of wall time have passed (interrupting it cleanly)."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return ned.baseline(opt, 10 ** 7, lr=lr, error_every=10)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


if __name__ == "__main__":
    main()
