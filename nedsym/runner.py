"""Run a problem specification end to end: derive, discretize, solve, plot, summarize."""

from __future__ import annotations

import json
import math
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

__all__ = ["run_problem", "build_simulation", "validate_spec"]

_KNOWN = {"name", "title", "energy", "coords", "fields", "params", "metric", "mobility",
          "grid", "t_end", "stepper", "dt", "gradient", "initial", "backend", "accuracy",
          "snapshots", "boundary", "stabilization", "sav_constant", "convex_part", "rtol",
          "atol"}
_GRID_KEYS = {"shape", "bounds", "bc"}
_INITIAL_KEYS = {"kind", "amplitude", "mean", "seed", "expr", "noise"}


def _suggest(key: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _strict_keys(table: dict, known: set, where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table (key = value pairs), got "
                          f"{type(table).__name__} {table!r}")
    for key in table:
        if key not in known:
            raise ConfigError(f"unknown key {key!r} in {where}{_suggest(str(key), known)}; "
                              f"known keys: {sorted(known)}")


def _num(spec: dict, key: str, where: str, *, positive: bool = False, integer: bool = False,
         minimum: float | None = None):
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{where}{key} must be {kind}, got {value!r}")
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        raise ConfigError(f"{where}{key} must be finite, got {value!r}")
    if positive and not value > 0:
        raise ConfigError(f"{where}{key} must be positive, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}{key} must be at least {minimum:g}, got {value!r}")
    return value


def _text(spec: dict, key: str, where: str = "") -> str:
    value = spec[key]
    if not isinstance(value, str):
        raise ConfigError(f"{where}{key} must be a string (a formula or a name), got "
                          f"{type(value).__name__} {value!r}")
    return value


def validate_spec(spec: dict) -> dict:
    """Check a problem specification strictly: unknown keys (at any level), wrong types,
    non-finite numbers and impossible values are refused with the key at fault named."""
    from nedsym.solve.solver import STEPPERS, stepper_option_error

    _strict_keys(spec, _KNOWN, "the problem")
    for key in ("energy", "grid", "t_end"):
        if key not in spec:
            raise ConfigError(f"the problem needs the key {key!r}")
    for key in ("name", "title", "energy", "coords", "metric", "boundary"):
        if key in spec:
            _text(spec, key)
    if "fields" in spec and not (isinstance(spec["fields"], str) or (
            isinstance(spec["fields"], list) and all(isinstance(f, str)
                                                      for f in spec["fields"]))):
        raise ConfigError(f"fields must be a string like \"u v\" or a list of names, got "
                          f"{spec['fields']!r}")
    if "mobility" in spec and not isinstance(spec["mobility"], (str, int, float)):
        raise ConfigError(f"mobility must be a formula string, got {spec['mobility']!r}")
    if "mobility" in spec and isinstance(spec["mobility"], (int, float)):
        _num(spec, "mobility", "", positive=True)
    if "params" in spec:
        params = spec["params"]
        if not isinstance(params, dict):
            raise ConfigError(f"params must be a table of numbers ([params] eps = 0.02), got "
                              f"{params!r}")
        for name in params:
            _num(params, name, "params.")
    _num(spec, "t_end", "", positive=True)
    if "dt" in spec and spec["dt"] is not None:
        _num(spec, "dt", "", positive=True)
    for key in ("stabilization", "sav_constant", "rtol", "atol"):
        if key in spec:
            _num(spec, key, "", positive=True)
    if "convex_part" in spec:
        _text(spec, "convex_part")
    wrong = stepper_option_error(spec.get("stepper", "rk4"), spec)
    if wrong:
        raise ConfigError(wrong)
    if "stepper" in spec:
        name = _text(spec, "stepper").strip().lower()
        if name not in STEPPERS:
            raise ConfigError(f"unknown stepper {spec['stepper']!r}{_suggest(name, STEPPERS)}; "
                              f"valid: {sorted(STEPPERS)}")
        if name == "stabilized" and "stabilization" not in spec:
            raise ConfigError("stepper 'stabilized' needs stabilization = S > 0 (e.g. "
                              "S >= max|f''|/2 for an energy-stable run)")
    if spec.get("gradient", "continuous") not in ("continuous", "discrete"):
        raise ConfigError(f"gradient must be 'continuous' or 'discrete', got "
                          f"{spec['gradient']!r}")
    if spec.get("backend", "numba") not in ("numba", "numpy"):
        raise ConfigError(f"backend must be 'numba' or 'numpy', got {spec['backend']!r}")
    if "accuracy" in spec and spec["accuracy"] not in (2, 4, 6):
        raise ConfigError(f"accuracy must be 2, 4 or 6, got {spec['accuracy']!r}")
    if "snapshots" in spec:
        _num(spec, "snapshots", "", integer=True, minimum=1)
    grid = spec["grid"]
    _strict_keys(grid, _GRID_KEYS, "[grid]")
    if "shape" not in grid:
        raise ConfigError("[grid] needs a 'shape', e.g. shape = [128, 128]")
    shape = grid["shape"] if isinstance(grid["shape"], list) else [grid["shape"]]
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n < 4 for n in shape):
        raise ConfigError(f"[grid] shape must be a list of integers >= 4, got {grid['shape']!r}")
    if "bounds" in grid:
        b = grid["bounds"]
        ok = isinstance(b, list) and len(b) == len(shape) and all(
            isinstance(p, list) and len(p) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e300
                for v in p) and p[0] < p[1] for p in b)
        if not ok:
            raise ConfigError(f"[grid] bounds must be {len(shape)} pairs [a, b] of finite "
                              f"numbers with a < b, got {b!r}")
    initial = spec.get("initial", {})
    _strict_keys(initial, _INITIAL_KEYS, "[initial]")
    for key in ("amplitude", "mean", "noise"):
        if key in initial:
            _num(initial, key, "initial.")
    if "seed" in initial:
        _num(initial, "seed", "initial.", integer=True, minimum=0)
    if "kind" in initial and "expr" in initial:
        raise ConfigError("[initial] takes either kind or expr, not both")
    if "expr" in initial:
        e = initial["expr"]
        if not (isinstance(e, str) or (isinstance(e, list) and e and all(
                isinstance(v, str) for v in e)) or (isinstance(e, dict) and e and all(
                isinstance(v, str) for v in e.values()))):
            raise ConfigError("[initial] expr must be a formula, a list of formulas (one per "
                              "field) or a table {field = formula}")
    return spec


def build_simulation(spec: dict, backend: str | None = None):
    """Energy → flow → Simulation from a problem specification (checked strictly)."""
    validate_spec(spec)
    E = Energy.parse(spec["energy"], coords=spec.get("coords", "x y"),
                     fields=spec.get("fields", "u"), params=spec.get("params"),
                     boundary=spec.get("boundary"))
    mobility = None
    if spec.get("mobility") is not None:
        ns = Namespace.declare(coords=E.coords, fields=E.fields,
                               params={p.name: v for p, v in E.params.items()})
        mobility = ns.parse(str(spec["mobility"]))
    flow = GradientFlow(E, metric=spec.get("metric", "L2"), mobility=mobility)
    g = spec["grid"]
    grid = Grid(tuple(g["shape"]) if isinstance(g["shape"], list) else int(g["shape"]),
                [tuple(b) for b in g["bounds"]] if "bounds" in g else None,
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
        e = init["expr"]
        names = list(sim.fields)
        if isinstance(e, str):
            y = sim.initial(ns.parse(e))
        else:
            if isinstance(e, dict):
                unknown = sorted(set(e) - set(names))
                missing = [f for f in names if f not in e]
                if unknown or missing:
                    raise ConfigError(f"[initial] expr names fields {sorted(e)}; the problem's "
                                      f"fields are {names}")
                e = [e[f] for f in names]
            if len(e) != len(names):
                raise ConfigError(f"[initial] expr has {len(e)} formulas for {len(names)} "
                                  f"fields {names}")
            y = sim.initial([ns.parse(text) for text in e])
    else:
        y = sim.initial(init.get("kind", "random"), seed=seed,
                        amplitude=float(init.get("amplitude", 0.1)),
                        mean=float(init.get("mean", 0.0)))
    if init.get("noise"):
        y = y + float(init["noise"]) * np.random.default_rng(seed).standard_normal(y.shape)
    return y


def _clean_initial(sim, spec: dict) -> np.ndarray | None:
    """The initial state without its noise (denoising problems), else None."""
    init = spec.get("initial", {})
    if not init.get("noise"):
        return None
    return _initial(sim, {**spec, "initial": {k: v for k, v in init.items() if k != "noise"}})


def _denoise_figure(res, sim, clean: np.ndarray, path) -> dict:
    """Clean image, noisy input and the result, each with its RMS distance to the clean one."""
    from matplotlib.figure import Figure

    from nedsym.plot import plot_field

    noisy, final = np.asarray(res.fields[0]), np.asarray(res.final)
    rms = {k: float(np.sqrt(np.mean((v - clean) ** 2))) for k, v in
           (("input", noisy), ("result", final))}
    lo, hi = float(clean.min()), float(clean.max())
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    for p, (title, u) in enumerate((("clean image", clean),
                                    (f"noisy input (RMS error {rms['input']:.3f})", noisy),
                                    (f"t = {res.t_final:.3g} (RMS error {rms['result']:.3f})",
                                     final))):
        plot_field(u, sim.grid, ax=fig.add_subplot(1, 3, p + 1), title=title, vmin=lo,
                   vmax=hi, cmap="gray")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return rms


def _conserves_mass(flow) -> bool:
    from nedsym.flows.metrics import ConservedL2, Hminus1

    return isinstance(flow.metric, (Hminus1, ConservedL2))


def _energy_and_mass_figure(res, sim, path) -> float:
    """Energy history beside the mass drift of every field at the snapshots; returns the
    largest relative drift."""
    from matplotlib.figure import Figure

    from nedsym.plot import plot_energy

    fig = Figure(figsize=(9.5, 3.4), layout="constrained")
    plot_energy(res, ax=fig.add_subplot(1, 2, 1))
    ax = fig.add_subplot(1, 2, 2)
    fields = np.asarray(res.fields)
    mass = fields.reshape(fields.shape[0], fields.shape[1], -1).sum(axis=2) * sim.grid.dV
    # relative to the mass, or to ∫|u0| when the mass is (nearly) zero
    scale = np.maximum(np.abs(mass[0]),
                       np.abs(fields[0]).reshape(fields.shape[1], -1).sum(axis=1) * sim.grid.dV)
    drift = np.abs(mass - mass[0]) / np.maximum(scale, 1e-300)
    for i, f in enumerate(sim.fields):
        # from the first snapshot after t = 0 (the drift at t = 0 is zero by definition)
        ax.semilogy(res.times[1:], np.maximum(drift[1:, i], 1e-18), marker="o",
                    label=f"∫{f} dx")
    ax.set_xlabel("$t$")
    ax.set_ylabel("relative mass drift")
    ax.set_title(f"mass (conserved by the {sim.flow.metric} flow)")
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return float(drift.max())


def run_problem(spec: dict, out_dir: str | Path = "nedsym-out", backend: str | None = None,
                progress: bool | None = None, log=print, cluster=None,
                save: str | Path | None = None, movie: str | Path | None = None) -> dict:
    """Derive, discretize and solve ``spec``; write PNG figures and ``summary.json``.

    ``cluster``: run the solve on Dask (a scheduler address, ``"local[N]"`` or a Client).
    ``save``: also write the run as netCDF (``.nc``) or zarr (``.zarr``), see
    :mod:`nedsym.solve.export`; checked before the run. ``movie``: also write a ``.gif`` or
    ``.mp4`` of the first field (up to 40 frames, fewer for large grids).
    """
    if movie is not None and Path(movie).suffix.lower() not in (".gif", ".mp4"):
        raise ConfigError(f"--movie {str(movie)!r}: write a .gif or .mp4 file")
    if save is not None:
        from nedsym.solve.export import _kind, _xarray

        _kind(Path(save))
        _xarray()
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
    if movie is not None:       # more snapshots for the frames, within ~256 MB of them
        n_snap = max(n_snap, min(40, int(2**28 // max(1, y0.nbytes))))
    try:
        from nedsym.solve.solver import STEPPER_OPTIONS

        extra = {key: spec[key] for key in STEPPER_OPTIONS if key in spec}
        res = sim.solve(y0, t_end=t_end, stepper=spec.get("stepper", "rk4"), dt=spec.get("dt"),
                        **extra,
                        snapshot_times=list(np.linspace(0, t_end, n_snap)),   # t = 0 too
                        progress=progress,
                        **({"cluster": cluster} if cluster is not None else {}))
    except BlowUpError as exc:
        summary = {
            "problem": name, "status": "blew up", "error": str(exc), "reason": exc.reason,
            "grid": list(sim.grid.shape), "backend": sim.backend,
            "stepper": spec.get("stepper", "rk4"), "dt": spec.get("dt"),
            "t_last_good": exc.t, "step_last_good": exc.step, "failed_dt": exc.dt,
            "advised_dt": exc.advised_dt, "setup_time_s": t_build,
            "compile_time_s": None if cluster is not None else float(exc.compile_s or 0.0),
        }
        (out / f"{name}_summary.json").write_text(json.dumps(summary, indent=2))
        raise
    f1 = out / f"{name}_fields.png"
    f2 = out / f"{name}_energy.png"
    plot_snapshots(res, sim.grid, save=str(f1))
    figures = [f1.name, f2.name]
    clean = _clean_initial(sim, spec)
    denoise = None
    if clean is not None:
        f3 = out / f"{name}_denoise.png"
        denoise = _denoise_figure(res, sim, clean, f3)
        figures.append(f3.name)
    mass_drift = None
    if _conserves_mass(flow):           # H⁻¹ / conserved-L² flows: show what they conserve
        mass_drift = _energy_and_mass_figure(res, sim, f2)
    else:
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
        # of it: the compiled step loop's first call (compiling it, or loading it from the
        # kernel cache, and its check against the NumPy reference); None on a cluster, whose
        # workers compile their own loops (not measured here)
        "compile_time_s": None if cluster is not None else
        float(res.diagnostics.get("compile_s", 0.0)),
        "setup_time_s": t_build,
        "t_final": float(res.diagnostics.get("t", t_end)),
        "energy_initial": float(energy[0]) if energy.size else None,
        "energy_final": float(energy[-1]) if energy.size else None,
        "energy_monotone": bool(np.all(np.diff(energy) <= 1e-10 * max(1.0, abs(energy[0]))))
        if energy.size > 1 else None,
        "figures": figures,
    }
    if mass_drift is not None:
        summary["mass_drift_max"] = mass_drift
    if denoise is not None:
        summary["rms_error_vs_clean"] = denoise
    if movie is not None:
        from nedsym.plot import write_movie

        summary["movie"] = write_movie(res, sim.grid, movie)
    if save is not None:
        summary["saved"] = str(res.save(save))
    (out / f"{name}_summary.json").write_text(json.dumps(summary, indent=2))
    comp = summary["compile_time_s"] or 0.0
    of_it = (f" ({comp:.1f} s of it compiling and checking the step loop; it is cached now, "
             "so the next run starts stepping at once)") if comp >= 1.0 else ""
    log(f"done: {summary['steps']} steps in {summary['wall_time_s']:.2f} s{of_it}; energy "
        f"{summary['energy_initial']:.6g} → {summary['energy_final']:.6g}; wrote {f1}, {f2}, "
        f"{out / (name + '_summary.json')}"
        + (f", {summary['saved']}" if save is not None else ""))
    return summary
