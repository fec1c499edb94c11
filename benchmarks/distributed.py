"""Distributed (Dask) grid runs vs the single-process run, and the effect of fused steps.

    u_t = eps^2 Δu + u − u^3   (Allen–Cahn), N×N cells, 2-D periodic, explicit Euler

Contenders, all on this machine, timed interleaved (so load from other processes hits
them alike):
  single   ``sim.solve(y0, stepper="euler", dt=...)``: the generated kernel, one process
           (numba threads = all cores), energy off
  loop     ``sim.run_euler``: the compiled fused Euler loop (the fastest single-process path)
  dask k   ``sim.solve(..., cluster=client, fuse=k)`` on a LocalCluster of ``--workers``
           processes (1 dask thread each, numba threads = cores / workers), default chunking
           (one slab of axis 0 per worker), energy off; ``k`` steps per halo exchange, or
           ``auto`` (the cost model with constants measured on this cluster)

Each contender runs ``n1`` and ``n2`` steps (multiples of the fixed ``k``); the time per
step is ``(T(n2) - T(n1)) / (n2 - n1)`` and the fixed cost ``T(n1) - n1 * per_step``
(set-up; for Dask: scattering the state to the workers and gathering the result). With
``auto`` the model may fuse more steps than the run has (one round): its per-step figure is
then the marginal cost of a step inside a round. Results are checked equal to the single run.
Then the measured constants of the cost model (latency per round L, seconds per halo byte,
seconds per cell per stage) and the model's predicted time per step for each k.

Usage: python benchmarks/distributed.py [--quick] [--sizes 1024 4096 8192] [--steps 8 24]
       [--fuse 1 2 4 8 auto] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# this file's name would shadow the ``distributed`` package when run as a script
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402

import nedsym as ns  # noqa: E402

EPS, DT = 0.02, 1e-6
ALLEN_CAHN = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"


def allen_cahn_sim(n: int):
    E = ns.Energy.parse(ALLEN_CAHN, coords="x y", fields="u", params={"eps": EPS})
    flow = ns.GradientFlow(E, metric="L2")
    return flow.discretize(ns.Grid((n, n), [(0, 1), (0, 1)], bc="periodic"), backend="numba")


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def contenders(sim, y0, client, fuses):
    out = {
        "single": lambda n: sim.solve(y0, t_end=n * DT, stepper="euler", dt=DT, energy=None,
                                      progress=False).final,
        "loop": lambda n: sim.run_euler(y0, n, DT),
    }
    def dask_run(fuse):
        def run(n):
            return sim.solve(y0, t_end=n * DT, stepper="euler", dt=DT, cluster=client,
                             energy=False, fuse=fuse, progress=False)
        return run

    for k in fuses:
        out[f"dask k={k}"] = dask_run(k if k == "auto" else int(k))
    return out


def bench_size(n: int, client, steps: tuple[int, int], fuses, repeats: int) -> dict:
    sim = allen_cahn_sim(n)
    y0 = sim.initial("random", seed=0, amplitude=0.1)
    runs = contenders(sim, y0, client, fuses)
    for fn in runs.values():                       # warm up: compile / load kernels
        fn(1)
    best: dict[tuple[str, int], float] = {}
    finals: dict[str, np.ndarray] = {}
    chosen = {}
    for _ in range(repeats):
        for m in steps:
            for name, fn in runs.items():
                dt_, out = timed(lambda fn=fn, m=m: fn(m))
                best[name, m] = min(best.get((name, m), np.inf), dt_)
                if hasattr(out, "diagnostics"):
                    chosen[name] = out.diagnostics["fuse"]
                    out = out.final
                if m == steps[-1]:
                    finals[name] = np.asarray(out)
    n1, n2 = steps
    rows = {}
    for name in runs:
        per_step = (best[name, n2] - best[name, n1]) / (n2 - n1)
        rows[name] = {"per_step_s": per_step, "fixed_s": best[name, n1] - n1 * per_step,
                      "total_s": best[name, n2], "fuse": chosen.get(name),
                      "max_diff": float(np.max(np.abs(finals[name] - finals["single"])))}
    return rows


def cost_model_rows(client, n: int, fuses) -> dict:
    from nedsym.distributed import measure_costs
    from nedsym.distributed.cluster import worker_count
    from nedsym.distributed.grid import normalize_chunks, program_for

    sim = allen_cahn_sim(n)
    chunks = normalize_chunks(None, sim.grid.shape, worker_count(client))
    model = measure_costs(client, program_for(sim, "euler"), chunks)
    chunk = tuple(max(c) for c in chunks)
    return {"latency_s": model.latency, "seconds_per_byte": model.seconds_per_byte,
            "seconds_per_cell": model.seconds_per_cell,
            "seconds_per_copy": model.seconds_per_copy, "chunk": chunk,
            "predict": lambda k: model.step_time(chunk, 1, sim.halo, 1, k)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 4096, 8192])
    ap.add_argument("--steps", type=int, nargs=2, default=[8, 24])
    ap.add_argument("--fuse", nargs="+", default=["1", "2", "4", "8", "auto"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="N = 256, 512 (smoke run)")
    ap.add_argument("--json", help="write the results to this file")
    args = ap.parse_args(argv)
    sizes = [256, 512] if args.quick else args.sizes
    from distributed import Client

    from nedsym.distributed import start_local_cluster

    print(f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; LocalCluster "
          f"of {args.workers} worker processes; steps {args.steps[0]} and {args.steps[1]}")
    results = {}
    with start_local_cluster(args.workers, memory_limit=0) as cluster, Client(cluster) as client:
        client.wait_for_workers(args.workers)
        for n in sizes:
            t0 = time.perf_counter()
            rows = bench_size(n, client, tuple(args.steps), args.fuse, args.repeats)
            model = cost_model_rows(client, n, args.fuse)
            results[n] = {"runs": rows,
                          "model": {k: v for k, v in model.items() if k != "predict"}}
            base = rows["single"]["per_step_s"]
            print(f"\nN = {n}  ({n * n / 1e6:.1f} M cells; {time.perf_counter() - t0:.0f} s, "
                  f"load {os.getloadavg()[0]:.1f})")
            print(f"  {'contender':12s} {'per step':>10s} {'vs single':>9s} {'fixed':>8s} "
                  f"{'k':>4s} {'predicted':>10s} {'max diff':>9s}")
            for name, r in rows.items():
                k = r["fuse"]
                pred = model["predict"](k) if k is not None else None
                r["predicted_step_s"] = pred
                print(f"  {name:12s} {r['per_step_s'] * 1e3:8.2f}ms {r['per_step_s'] / base:9.2f}"
                      f" {r['fixed_s']:7.2f}s {k if k is not None else '-':>4} "
                      f"{'-' if pred is None else f'{pred * 1e3:.2f}ms':>10s} "
                      f"{r['max_diff']:9.1e}")
            print(f"  cost model: L = {model['latency_s'] * 1e3:.1f} ms/round, "
                  f"beta = {model['seconds_per_byte'] * 1e9:.2f} ns/byte, "
                  f"gamma = {model['seconds_per_cell'] * 1e9:.2f} ns/cell/stage, "
                  f"delta = {model['seconds_per_copy'] * 1e9:.2f} ns/cell/copy "
                  f"(chunk {model['chunk'][0]}x{model['chunk'][1]})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
