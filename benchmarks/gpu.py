"""GPU benchmark: explicit stencil steps of Allen–Cahn and Cahn–Hilliard on the device.

For each problem (Allen–Cahn: L² flow, 5-point Laplacian, halo 1; Cahn–Hilliard: H⁻¹
flow, 13-point bilaplacian, halo 2), grid (4096², 8192²), dtype (float32, float64) and
GPU backend (cupy, numba-cuda) it times ``nsteps`` explicit Euler steps of the fused
device loop (:class:`nedsym.codegen.gpu.DeviceEulerLoop`: one generated kernel computing
``u + dt*F(u)`` plus one halo kernel per axis, state on the device) and prints

* ns per cell per step (kernel + halo launches, CUDA-event timed, after a warm-up),
* the effective bandwidth ``2 * cells * nfields * itemsize / step time`` (one read and one
  write of the state per step: the minimum traffic of a stencil step whose neighbours
  come from cache) as a fraction of the device's copy bandwidth, measured in the same run
  with a CuPy copy kernel on an array of the same size,
* the speed-up over the CPU ``numba`` backend (its compiled Euler loop, float64), measured in
  the same run at ``--cpu-size`` (default 2048²: per-cell rates are compared, and the size
  used is printed).

Before timing, every GPU kernel is checked against the NumPy reference on a 96×80 grid.
The script exits cleanly, with the reason, when no GPU backend can run here.

Usage::

    python benchmarks/gpu.py                       # full run (about 2-4 minutes on an H100)
    python benchmarks/gpu.py --sizes 1024 --steps 20 --cpu-size 512    # quick smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

import nedsym as ns
from nedsym.codegen import available
from nedsym.codegen.backends import simulator_enabled

AC = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"
PROBLEMS = {"allen-cahn": "L2", "cahn-hilliard": "H-1"}


def _versions() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    lines = [f"python {platform.python_version()} on {platform.platform()}"]
    for pkg in ("nedsym", "numpy", "numba", "numba-cuda", "cupy-cuda13x", "nvidia-cuda-nvrtc",
                "cuda-bindings"):
        try:
            lines.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            lines.append(f"{pkg} (not installed)")
    return lines


def _device_report() -> None:
    print("== device ==")
    smi = shutil.which("nvidia-smi")
    if smi:
        q = "name,driver_version,memory.total,clocks.max.memory,clocks.max.sm,power.limit"
        out = subprocess.run([smi, f"--query-gpu={q}", "--format=csv"], capture_output=True,
                             text=True, timeout=60)
        print(out.stdout.strip() or out.stderr.strip())
    else:
        print("nvidia-smi not found")
    try:
        import cupy

        rt = cupy.cuda.runtime
        props = rt.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        print(f"cupy device: {name}, {props['multiProcessorCount']} SMs, "
              f"{props['totalGlobalMem'] / 2**30:.1f} GiB, compute capability "
              f"{props['major']}.{props['minor']}; CUDA runtime {rt.runtimeGetVersion()}, "
              f"driver {rt.driverGetVersion()}")
    except Exception as exc:  # noqa: BLE001 - report only
        print(f"cupy device query failed: {exc}")
    print("== versions ==")
    for line in _versions():
        print("  " + line)
    print("== backends ==")
    for name, (ok, why) in available().items():
        print(f"  {name:<11} {'yes' if ok else 'no '}  {why}")


def copy_bandwidth(nbytes: int, repeats: int = 20) -> float:
    """Device copy bandwidth in bytes/s (read + write) of a CuPy elementwise copy kernel."""
    import cupy

    n = nbytes // 4
    a = cupy.ones(n, dtype=cupy.float32)
    b = cupy.empty_like(a)
    copy = cupy.ElementwiseKernel("T x", "T y", "y = x", "nedsym_bench_copy")
    copy(a, b)
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    best = float("inf")
    for _ in range(3):
        start.record()
        for _ in range(repeats):
            copy(a, b)
        stop.record()
        stop.synchronize()
        best = min(best, cupy.cuda.get_elapsed_time(start, stop) / 1e3 / repeats)
    del a, b
    return 2 * n * 4 / best


def _flow(metric: str):
    E = ns.Energy.parse(AC, coords="x y", fields="u", params={"eps": 0.02})
    return ns.GradientFlow(E, metric=metric)


def _grid(n: int):
    return ns.Grid((n, n), [(0, 1), (0, 1)], bc="periodic")


def verify(metric: str, backend: str, dtype: str) -> float:
    """Largest relative difference of 5 device Euler steps vs the NumPy reference (96×80)."""
    grid = ns.Grid((96, 80), [(0, 1), (0, 0.8)], bc="periodic")
    flow = _flow(metric)
    ref = flow.discretize(grid, backend="numpy", dtype=dtype)
    gpu = flow.discretize(grid, backend=backend, dtype=dtype, check=False)
    y = ref.initial("random", seed=0, amplitude=0.5)
    dt = 0.2 * ref.stable_dt()
    f = np.empty_like(y)
    expected = y.copy()
    for _ in range(5):
        ref.rhs(0.0, expected, f)
        expected = (expected + np.asarray(dt, dtype) * f).astype(dtype)
    got = gpu.run_euler(gpu.xp.asarray(y), 5, dt)
    got = got.get() if hasattr(got, "get") else np.asarray(got)
    return float(np.abs(got - expected).max() / max(1.0, np.abs(expected).max()))


def time_gpu(metric: str, n: int, backend: str, dtype: str, nsteps: int) -> dict:
    """ns per cell per step of the fused device Euler loop (kernel + halo)."""
    import cupy

    from nedsym.codegen.gpu import DeviceEulerLoop

    sim = _flow(metric).discretize(_grid(n), backend=backend, dtype=dtype, check=False)
    h = sim.grid.spacing[0]
    # a stable explicit step (the rate does not depend on it): dt << h^2 (L2) or h^4 (H-1)
    dt = 0.05 * eps_scale(metric, h)
    y0 = sim.initial("random", seed=0, amplitude=0.1)
    yp = sim._fill(y0, 0.0).copy()
    loop = DeviceEulerLoop(sim.kernel_ir, backend, dtype, sim._halo_filler)
    scalars = sim.scalars(0.0)
    loop.advance(yp, 3, dt, *scalars)              # compile + warm up
    cupy.cuda.Device().synchronize()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    best = float("inf")
    for _ in range(3):
        start.record()
        loop.advance(yp, nsteps, dt, *scalars)
        stop.record()
        stop.synchronize()
        best = min(best, cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    if not bool(cupy.isfinite(yp).all()):
        raise RuntimeError(f"{metric} {backend} {dtype} {n}^2 blew up during timing")
    cells = n * n
    per_step = best / nsteps
    nbytes = 2 * cells * len(sim.fields) * np.dtype(dtype).itemsize
    del yp, sim, loop
    cupy.get_default_memory_pool().free_all_blocks()
    return {"ns_cell_step": per_step / cells * 1e9, "bytes_per_s": nbytes / per_step}


def eps_scale(metric: str, h: float) -> float:
    return h**2 if metric == "L2" else h**4


def time_cpu(metric: str, n: int, nsteps: int) -> float:
    """ns per cell per step of the numba CPU Euler loop (float64)."""
    sim = _flow(metric).discretize(_grid(n), backend="numba", check=False)
    y0 = sim.initial("random", seed=0, amplitude=0.1)
    dt = 0.05 * eps_scale(metric, sim.grid.spacing[0])
    sim.run_euler(y0, 2, dt)                   # compile + warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sim.run_euler(y0, nsteps, dt)
        best = min(best, time.perf_counter() - t0)
    return best / (nsteps * n * n) * 1e9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[4096, 8192])
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    p.add_argument("--backends", nargs="+", default=["cupy", "numba-cuda"])
    p.add_argument("--problems", nargs="+", default=list(PROBLEMS))
    p.add_argument("--steps", type=int, default=100, help="steps per timed call")
    p.add_argument("--cpu-size", type=int, default=2048)
    p.add_argument("--cpu-steps", type=int, default=10)
    args = p.parse_args(argv)

    _device_report()
    if simulator_enabled():
        print("\nNUMBA_ENABLE_CUDASIM=1: the CUDA simulator is not a GPU; nothing to time.")
        return 0
    status = available()
    backends = [b for b in args.backends if status.get(b, (False, ""))[0]]
    if not backends or not status["cupy"][0]:
        why = "; ".join(f"{b}: {status[b][1]}" for b in ("cupy", "numba-cuda"))
        print(f"\nNo GPU benchmark possible here ({why}).\n"
              "cupy is needed for timing and the copy bandwidth. Nothing was timed.")
        return 0
    skipped = sorted(set(args.backends) - set(backends))
    if skipped:
        print(f"skipping unavailable backend(s) {skipped}")

    print("\n== correctness (5 device Euler steps vs numpy, 96x80, periodic) ==")
    for prob in args.problems:
        for backend in backends:
            for dtype in args.dtypes:
                err = verify(PROBLEMS[prob], backend, dtype)
                tol = 1e-4 if dtype == "float32" else 1e-10
                flag = "ok" if err < tol else "MISMATCH"
                print(f"  {prob:<14} {backend:<11} {dtype}: max rel diff {err:.2e}  {flag}")

    largest = max(args.sizes) ** 2 * 8
    bw = copy_bandwidth(largest)
    print(f"\n== copy bandwidth (CuPy copy kernel, {largest / 2**20:.0f} MiB): "
          f"{bw / 1e9:.0f} GB/s ==")

    print(f"\n== CPU baseline: numba backend, float64, {args.cpu_size}^2, "
          f"{args.cpu_steps} steps, {os.cpu_count()} logical CPUs ==")
    cpu = {}
    for prob in args.problems:
        cpu[prob] = time_cpu(PROBLEMS[prob], args.cpu_size, args.cpu_steps)
        print(f"  {prob:<14} {cpu[prob]:8.3f} ns/cell/step")

    print("\n== GPU: explicit Euler step (fused kernel + halo), periodic ==")
    header = (f"| problem | grid | dtype | backend | ns/cell/step | GB/s | % of copy BW | "
              f"speed-up vs CPU numba ({args.cpu_size}^2, f64) |")
    print(header)
    print("|" + "---|" * 8)
    rows = []
    try:
        for prob in args.problems:
            for n in args.sizes:
                for dtype in args.dtypes:
                    for backend in backends:
                        r = time_gpu(PROBLEMS[prob], n, backend, dtype, args.steps)
                        frac = r["bytes_per_s"] / bw
                        row = (f"| {prob} | {n}^2 | {dtype} | {backend} | "
                               f"{r['ns_cell_step']:.4f} | {r['bytes_per_s'] / 1e9:.0f} | "
                               f"{100 * frac:.0f}% | {cpu[prob] / r['ns_cell_step']:.0f}x |")
                        rows.append(row)
                        print(row, flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted; rows so far are above")
        return 130
    print("\n(target: >= 70% of the copy bandwidth for the explicit stencil step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
