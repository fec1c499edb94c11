"""Run a problem specification end to end: derive, discretize, solve, plot, summarize."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from nedsym.codegen import cache_info
from nedsym.discretize import Grid
from nedsym.errors import BlowUpError, ConfigError
from nedsym.flows import GradientFlow
from nedsym.symbolic.energy import Energy
from nedsym.symbolic.parse import Namespace

__all__ = ["run_problem", "build_simulation"]

_KNOWN = {"name", "title", "energy", "coords", "fields", "params", "metric", "mobility",
          "grid", "t_end", "stepper", "dt", "gradient", "initial", "backend", "accuracy",
          "snapshots", "boundary"}


def build_simulation(spec: dict, backend: str | None = None):
    """Energy → flow → Simulation from a problem specification."""
    unknown = sorted(set(spec) - _KNOWN)
    if unknown:
        raise ConfigError(f"unknown problem keys {unknown}; known keys: {sorted(_KNOWN)}")
    E = Energy.parse(spec["energy"], coords=spec.get("coords", "x y"),
                     fields=spec.get("fields", "u"), params=spec.get("params"))
    mobility = None
    if spec.get("mobility"):
        ns = Namespace.declare(coords=E.coords, fields=E.fields,
                               params={p.name: v for p, v in E.params.items()})
        mobility = ns.parse(str(spec["mobility"]))
    flow = GradientFlow(E, metric=spec.get("metric", "L2"), mobility=mobility)
    g = spec["grid"]
    if "shape" not in g:
        raise ConfigError("grid needs a 'shape', e.g. shape = [128, 128]")
    grid = Grid(tuple(g["shape"]), [tuple(b) for b in g["bounds"]] if "bounds" in g else None,
                bc=g.get("bc", "periodic"), axis_names=[str(c) for c in E.coords])
    sim = flow.discretize(grid, backend=backend or spec.get("backend", "numba"),
                          gradient=spec.get("gradient", "continuous"),
                          accuracy=int(spec.get("accuracy", 2)))
    return E, flow, sim


def _initial(sim, spec: dict) -> np.ndarray:
    init = dict(spec.get("initial", {"kind": "random"}))
    seed = int(init.get("seed", 0))
    if "expr" in init:
        ns = Namespace.declare(coords=sim.flow.coords, fields={}, params={})
        y = sim.initial(ns.parse(init["expr"]))
    else:
        y = sim.initial(init.get("kind", "random"), seed=seed,
                        amplitude=float(init.get("amplitude", 0.1)),
                        mean=float(init.get("mean", 0.0)))
    if init.get("noise"):
        y = y + float(init["noise"]) * np.random.default_rng(seed).standard_normal(y.shape)
    return y


def run_problem(spec: dict, out_dir: str | Path = "nedsym-out", backend: str | None = None,
                progress: bool | None = None, log=print, cluster=None) -> dict:
    """Derive, discretize and solve ``spec``; write PNG figures and ``summary.json``.

    ``cluster``: run the solve on Dask (a scheduler address, ``"local[N]"`` or a Client).
    """
    from nedsym.plot import plot_energy, plot_snapshots
    from nedsym.symbolic.printing import compact_str

    name = str(spec.get("name", "problem"))
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}", name):
        raise ConfigError(f"problem name {name!r} must be a plain file name (letters, digits, "
                          "'_', '-', '.'; no folders): outputs are written as <out>/<name>_*")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {str(out)!r}: {exc}") from exc
    t0 = time.perf_counter()
    before = cache_info()["kernels"]
    E, flow, sim = build_simulation(spec, backend)
    log(f"== {spec.get('title', spec.get('name', 'problem'))}")
    log(f"energy: {E}")
    for c in flow.fields:
        log(f"  ∂{c.func.__name__}/∂t = {compact_str(flow.rhs[c])}")
    after = cache_info()
    t_build = time.perf_counter() - t0
    log(f"grid: {sim.grid.shape} {sim.grid.bounds}, bc={sim.grid.bc!r}; backend {sim.backend}; "
        f"kernel cache {after['dir']}: {after['kernels'] - before} new, "
        f"{after['kernels']} cached; set-up {t_build:.2f} s")
    y0 = _initial(sim, spec)
    t_end = float(spec["t_end"])
    n_snap = int(spec.get("snapshots", 4))
    try:
        res = sim.solve(y0, t_end=t_end, stepper=spec.get("stepper", "rk4"), dt=spec.get("dt"),
                        snapshot_times=list(np.linspace(0, t_end, n_snap)[1:]),
                        progress=progress,
                        **({"cluster": cluster} if cluster is not None else {}))
    except BlowUpError as exc:
        summary = {
            "problem": name, "status": "blew up", "error": str(exc), "reason": exc.reason,
            "grid": list(sim.grid.shape), "backend": sim.backend,
            "stepper": spec.get("stepper", "rk4"), "dt": spec.get("dt"),
            "t_last_good": exc.t, "step_last_good": exc.step, "failed_dt": exc.dt,
            "advised_dt": exc.advised_dt, "setup_time_s": t_build,
        }
        (out / f"{name}_summary.json").write_text(json.dumps(summary, indent=2))
        raise
    f1 = out / f"{name}_fields.png"
    f2 = out / f"{name}_energy.png"
    plot_snapshots(res, sim.grid, save=str(f1))
    plot_energy(res, save=str(f2))
    energy = np.asarray(res.energy)
    summary = {
        "problem": name,
        "status": "done",
        "energy_formula": compact_str(E.density),
        "rhs": {c.func.__name__: compact_str(r) for c, r in flow.rhs.items()},
        "grid": list(sim.grid.shape), "backend": sim.backend, "stepper": res.diagnostics.get(
            "stepper"),
        "steps": int(res.diagnostics.get("steps", 0)),
        "dt_adjustments": len(res.diagnostics.get("dt_adjustments", [])),
        "energy_every": res.diagnostics.get("energy_every"),
        "rejected_steps": int(res.diagnostics.get("rejected_steps", 0)),
        "wall_time_s": float(res.diagnostics.get("wall_time", 0.0)),
        "setup_time_s": t_build,
        "t_final": float(res.diagnostics.get("t", t_end)),
        "energy_initial": float(energy[0]) if energy.size else None,
        "energy_final": float(energy[-1]) if energy.size else None,
        "energy_monotone": bool(np.all(np.diff(energy) <= 1e-10 * max(1.0, abs(energy[0]))))
        if energy.size > 1 else None,
        "figures": [f1.name, f2.name],
    }
    (out / f"{name}_summary.json").write_text(json.dumps(summary, indent=2))
    log(f"done: {summary['steps']} steps in {summary['wall_time_s']:.2f} s; energy "
        f"{summary['energy_initial']:.6g} → {summary['energy_final']:.6g}; wrote {f1}, {f2}, "
        f"{out / (name + '_summary.json')}")
    return summary
