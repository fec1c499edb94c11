"""Grid benchmark: the public path ``sim.solve`` against hand-written numba kernels (on demand).

    Allen–Cahn  u_t = eps^2 Δu + u − u^3,   5-point Laplacian, N×N cells, halo 1

nedsym is driven the way a user drives it: the energy is parsed, its L² gradient flow derived
and lowered by ``flow.discretize(grid, backend="numba")``, and the time is that of
``sim.solve(y0, t_end, stepper=..., dt=DT)`` with its defaults: progress off, energy recorded
every ``energy_every="auto"`` steps, the health checks (finite state, energy that must not
rise) on. Contenders, timed interleaved in one process (best of ``--repeats``):

  solve      ``sim.solve`` (per call: buffers, first energy, segments, result copy)
  hand       a hand-written numba prange kernel for the same boundary (periodic copy,
             Neumann/Dirichlet reflection), double-buffered, arrays allocated once
  numpy      np.roll Euler (periodic only, fewer steps)
  bound      16 bytes/cell/step (read u, write u_new) at the bandwidth of a parallel
             numba STREAM copy measured in the same run

Cases: Euler with periodic, Neumann (zero flux) and Dirichlet (u = 0.5) sides, and RK4
(periodic) against a hand-written four-sweep RK4. Ratios are hand ÷ solve (above 1: nedsym
is faster) and bound ÷ solve. ``hand/step`` splits the call: ``sim.solve`` is also timed for
a quarter of the steps, and the difference gives its cost per step (the slope; ratio
against the hand kernel) and ``call ms``, the fixed cost of one call. Then rk45 and rk23 (at
the first size, at most 2048): compiled adaptive steps against the NumPy-level stepper
driving the generated right-hand side, per accepted step (no hand-written embedded pair).

Each ``sim.solve`` call returns a Result: two snapshots (t = 0 and the end), copied into
fresh memory. At 4096² that is 256 MB per call, whose first touch (page faults, and on
machines with transparent huge pages possibly compaction) costs 0.03–0.7 s here: a fixed
cost per call that longer calls (``--seconds``) amortize.

Usage: python benchmarks/grid.py [--quick] [--sizes 2048 4096] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import numpy as np
from numba import njit, prange

import nedsym as ns

EPS = 0.02
ALLEN_CAHN = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"
BCS = {"periodic": "periodic", "neumann": "neumann", "dirichlet": ns.Dirichlet(0.5)}


def allen_cahn_sim(n: int, bc="periodic", backend: str = "numba"):
    """The Allen–Cahn L² gradient flow on an n×n unit square, through the pipeline."""
    E = ns.Energy.parse(ALLEN_CAHN, coords="x y", fields="u", params={"eps": EPS})
    flow = ns.GradientFlow(E, metric="L2")
    return flow.discretize(ns.Grid((n, n), [(0, 1), (0, 1)], bc=BCS[bc]), backend=backend)


# -- hand-written kernels ---------------------------------------------------------------
@njit(parallel=True, cache=True)
def _ghosts(a, n, kind, value):
    """kind 0: periodic copy; 1: Neumann zero flux (mirror); 2: Dirichlet (2*value - mirror)."""
    for j in prange(n + 2):
        if kind == 0:
            a[0, j] = a[n, j]
            a[n + 1, j] = a[1, j]
        elif kind == 1:
            a[0, j] = a[1, j]
            a[n + 1, j] = a[n, j]
        else:
            a[0, j] = 2.0 * value - a[1, j]
            a[n + 1, j] = 2.0 * value - a[n, j]
    for i in prange(n + 2):
        if kind == 0:
            a[i, 0] = a[i, n]
            a[i, n + 1] = a[i, 1]
        elif kind == 1:
            a[i, 0] = a[i, 1]
            a[i, n + 1] = a[i, n]
        else:
            a[i, 0] = 2.0 * value - a[i, 1]
            a[i, n + 1] = 2.0 * value - a[i, n]


@njit(parallel=True, cache=True)
def hand_euler(a, b, nsteps, dt, c, n, kind, value):
    """Fused Euler step on padded (n+2)^2 arrays, double-buffered."""
    for _ in range(nsteps):
        _ghosts(a, n, kind, value)
        for i in prange(1, n + 1):
            for j in range(1, n + 1):
                uc = a[i, j]
                lap = a[i - 1, j] + a[i + 1, j] + a[i, j - 1] + a[i, j + 1] - 4.0 * uc
                b[i, j] = uc + dt * (c * lap + uc - uc * uc * uc)
        a, b = b, a
    return a


@njit(parallel=True, cache=True)
def _rk4_stage(src, y, dst, acc, dt, c, n, wy, wacc, first, last):
    for i in prange(1, n + 1):
        for j in range(1, n + 1):
            uc = src[i, j]
            k = c * (src[i - 1, j] + src[i + 1, j] + src[i, j - 1] + src[i, j + 1]
                     - 4.0 * uc) + uc - uc * uc * uc
            if last:
                y[i, j] = y[i, j] + dt / 6.0 * (acc[i, j] + k)
            else:
                if first:
                    acc[i, j] = k
                else:
                    acc[i, j] += 2.0 * k
                dst[i, j] = y[i, j] + wy * dt * k


@njit(parallel=True, cache=True)
def hand_rk4(y, s1, s2, acc, nsteps, dt, c, n):
    """Classical RK4, periodic, one fused sweep per stage (y updated in place at the end)."""
    for _ in range(nsteps):
        _ghosts(y, n, 0, 0.0)
        _rk4_stage(y, y, s1, acc, dt, c, n, 0.5, 1.0, True, False)
        _ghosts(s1, n, 0, 0.0)
        _rk4_stage(s1, y, s2, acc, dt, c, n, 0.5, 2.0, False, False)
        _ghosts(s2, n, 0, 0.0)
        _rk4_stage(s2, y, s1, acc, dt, c, n, 1.0, 2.0, False, False)
        _ghosts(s1, n, 0, 0.0)
        _rk4_stage(s1, y, s1, acc, dt, c, n, 0.0, 0.0, False, True)
    return y


def numpy_euler(u, nsteps, dt, c):
    for _ in range(nsteps):
        lap = (np.roll(u, 1, 0) + np.roll(u, -1, 0) + np.roll(u, 1, 1) + np.roll(u, -1, 1)
               - 4.0 * u)
        u = u + dt * (c * lap + u - u**3)
    return u


@njit(parallel=True, cache=True)
def stream_copy(a, b):
    for i in prange(a.size):
        b[i] = a[i]


def bench_case(n: int, bc: str, stepper: str, repeats: int, seconds: float) -> dict:
    """Best-of-``repeats`` seconds per step of each contender, timed interleaved."""
    h = 1.0 / n
    c = EPS**2 / h**2
    dt = 0.2 * h * h / EPS**2 / 4           # well inside the explicit limit
    sim = allen_cahn_sim(n, bc)
    y0 = sim.initial("random", seed=0, amplitude=0.1)
    kind, value = {"periodic": (0, 0.0), "neumann": (1, 0.0), "dirichlet": (2, 0.5)}[bc]
    # step count: about `seconds` of hand-kernel time per timed call
    a = np.zeros((n + 2, n + 2))
    a[1:-1, 1:-1] = y0[0]
    b = np.empty_like(a)
    s1, s2, acc = np.empty_like(a), np.empty_like(a), np.empty_like(a)
    if stepper == "euler":
        def hand(k):
            return hand_euler(a, b, k, dt, c, n, kind, value)
    else:
        def hand(k):
            return hand_rk4(a, s1, s2, acc, k, dt, c, n)
    hand(2)
    t = time.perf_counter()
    hand(20)
    per = (time.perf_counter() - t) / 20
    nsteps = max(40, int(seconds / per))
    t_end = nsteps * dt
    sim.solve(y0, 4 * dt, stepper=stepper, dt=dt, progress=False)   # compile/load + check
    x, z = np.random.rand(n * n), np.random.rand(n * n)
    stream_copy(x, z)
    best = {"solve": np.inf, "hand": np.inf, "copy": np.inf, "short": np.inf}
    short = max(10, nsteps // 4)
    res = None
    for _ in range(repeats):
        for key in best:
            t = time.perf_counter()
            if key == "solve":
                res = sim.solve(y0, t_end, stepper=stepper, dt=dt, progress=False)
            elif key == "short":     # a quarter of the steps: per-call cost vs per-step cost
                sim.solve(y0, short * dt, stepper=stepper, dt=dt, progress=False)
                best[key] = min(best[key], time.perf_counter() - t)
                continue
            elif key == "hand":
                a[1:-1, 1:-1] = y0[0]
                hand(nsteps)
            else:
                for _ in range(nsteps):
                    stream_copy(x, z)
            best[key] = min(best[key], (time.perf_counter() - t) / nsteps)
    assert res is not None and res.diagnostics["steps"] == nsteps
    # same result: nedsym vs hand-written from the same start, a few steps
    a[1:-1, 1:-1] = y0[0]
    mine = sim.solve(y0, 3 * dt, stepper=stepper, dt=dt, progress=False).final[0]
    theirs = hand(3)
    # the long call's time per step, split into a per-step slope and a fixed per-call part
    # (buffers in, first energy, the Result's two snapshots in fresh memory)
    slope = (best["solve"] * nsteps - best["short"]) / (nsteps - short)
    row = {"N": n, "bc": bc, "stepper": stepper, "steps": nsteps,
           "per_step_ns": slope / n**2 * 1e9,
           "per_call_ms": (best["solve"] * nsteps - slope * nsteps) * 1e3,
           "solve_ns": best["solve"] / n**2 * 1e9, "hand_ns": best["hand"] / n**2 * 1e9,
           "bound_ns": 16 / (16 * n * n / best["copy"]) * 1e9,
           "copy_GBs": 16 * n * n / best["copy"] / 1e9,
           "energy_every": res.diagnostics["energy_every"],
           "segments": res.diagnostics["segments"],
           "max_diff_vs_hand": float(np.abs(mine - theirs[1:-1, 1:-1]).max())}
    if bc == "periodic" and stepper == "euler":
        k = max(1, nsteps // 20)
        t = time.perf_counter()
        numpy_euler(y0[0], k, dt, c)
        row["numpy_ns"] = (time.perf_counter() - t) / k / n**2 * 1e9
    return row


def bench_adaptive(n: int, stepper: str, repeats: int, steps: int = 12) -> dict:
    """rk45/rk23 through ``sim.solve``: compiled (one call per attempt, error norm in the
    kernel) against the NumPy-level stepper on the generated right-hand side (the path
    before compiled adaptive steps), interleaved, per accepted step."""
    sim = allen_cahn_sim(n, "periodic")
    y0 = sim.initial("random", seed=0, amplitude=0.1)
    h = 1.0 / n
    dt0 = 0.2 * h * h / EPS**2 / 4
    opts = dict(stepper=stepper, dt=dt0, rtol=1e-6, progress=False)
    sim.solve(y0, 4 * dt0, **opts)                 # compile/load + check
    probe = sim.solve(y0, 1.0, max_steps=steps, **opts)
    t_end = probe.t_final
    best = {True: np.inf, False: np.inf}
    diag = {}
    for _ in range(repeats):
        for compiled in (True, False):
            t = time.perf_counter()
            res = sim.solve(y0, t_end, compiled=compiled, **opts)
            best[compiled] = min(best[compiled], (time.perf_counter() - t)
                                 / res.diagnostics["steps"] / n**2 * 1e9)
            diag[compiled] = res
    return {"N": n, "stepper": stepper, "steps": diag[True].diagnostics["steps"],
            "rejected": diag[True].diagnostics["rejected_steps"],
            "compiled_ns": best[True], "numpy_level_ns": best[False],
            "max_diff": float(np.abs(diag[True].final - diag[False].final).max())}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seconds", type=float, default=1.0,
                   help="about this much hand-kernel time per timed call")
    p.add_argument("--json", help="also write the rows to this file")
    p.add_argument("--no-adaptive", action="store_true",
                   help="skip the rk45/rk23 rows (compiled vs NumPy-level stepper)")
    args = p.parse_args(argv)
    sizes = args.sizes or ([256] if args.quick else [2048, 4096])
    cases = [("periodic", "euler"), ("neumann", "euler"), ("dirichlet", "euler"),
             ("periodic", "rk4")]
    print(f"numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads")
    rows = [bench_case(n, bc, st, args.repeats, 0.1 if args.quick else args.seconds)
            for n in sizes for bc, st in cases]
    print(f"threading layer: {numba.threading_layer()}")
    print(f"{'N':>5} {'bc':>9} {'stepper':>7} {'steps':>6} {'solve':>7} {'hand':>7} {'bound':>7}"
          f" {'hand/solve':>10} {'bound/solve':>11} {'hand/step':>9} {'call ms':>7} {'every':>5}"
          f" {'segs':>5}  (ns/cell/step)")
    for r in rows:
        print(f"{r['N']:>5} {r['bc']:>9} {r['stepper']:>7} {r['steps']:>6} {r['solve_ns']:7.3f} "
              f"{r['hand_ns']:7.3f} {r['bound_ns']:7.3f} {r['hand_ns'] / r['solve_ns']:10.2f} "
              f"{r['bound_ns'] / r['solve_ns']:11.2f} {r['hand_ns'] / r['per_step_ns']:9.2f} "
              f"{r['per_call_ms']:7.0f} {r['energy_every']:>5} "
              f"{r['segments']:>5}  diff {r['max_diff_vs_hand']:.1e}"
              + (f"  numpy {r['numpy_ns']:.2f}" if "numpy_ns" in r else ""))
    bw = ", ".join(f"{r['copy_GBs']:.1f}" for r in rows)
    print(f"copy bandwidth (numba STREAM copy, same run): {bw} GB/s")
    adaptive = [] if args.no_adaptive else \
        [bench_adaptive(min(n, 2048), st, args.repeats) for n in sizes[:1]
         for st in ("rk45", "rk23")]
    for r in adaptive:
        print(f"{r['N']:>5}  periodic {r['stepper']:>5}: {r['steps']} steps ({r['rejected']} "
              f"rejected), compiled {r['compiled_ns']:.2f} vs NumPy-level stepper "
              f"{r['numpy_level_ns']:.2f} ns/cell/step: "
              f"{r['numpy_level_ns'] / r['compiled_ns']:.1f}x, diff {r['max_diff']:.1e}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows + adaptive, fh, indent=1)


if __name__ == "__main__":
    main()
