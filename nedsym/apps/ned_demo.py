"""The Neural Energy Descent demos of ``nedsym run``: ``ned-fit`` and ``ned-poisson``.

Each runs NED and first-order baselines on one network, one sampled energy and one set of
generated gradients, then writes the solution/error figure, the convergence figure (energy and
test error against step and wall time) and a JSON summary.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import sympy as sp

from nedsym.methods.ned import NED, NEDResult
from nedsym.quadrature import Box
from nedsym.symbolic import Energy, Field, coords, grad

__all__ = ["run_fit", "run_poisson", "fit_problem", "poisson_problem", "compare_figures"]


def fit_problem(width: int = 20, points: int = 200, seed: int = 0, **options) -> NED:
    r"""Supervised fit :math:`E[u] = \tfrac12\int_{-1}^1 (u - \sin 2\pi x)^2 dx`."""
    from nedsym.nn import MLP

    x, = coords("x")
    u = Field("u", (x,))
    target = sp.sin(2 * sp.pi * x)
    E = Energy((u - target) ** 2 / 2, fields=[u])
    opts = {"dt": 0.5, **options}
    return NED(E, MLP([1, width, 1], seed=seed), Box([(-1, 1)]), points=points, seed=seed,
               exact=target, **opts)


def poisson_problem(width: int = 20, points: int = 200, penalty: float = 100.0, seed: int = 0,
                    **options) -> NED:
    r"""Poisson :math:`-u'' = \pi^2\sin\pi x` on :math:`(-1, 1)`, :math:`u(\pm1) = 0`, as the
    energy :math:`\int \tfrac12 u'^2 - f u\,dx + \tfrac{\lambda}{2}\sum_{\pm1} u^2`."""
    from nedsym.nn import MLP

    x, = coords("x")
    u = Field("u", (x,))
    f = sp.pi ** 2 * sp.sin(sp.pi * x)
    E = Energy(grad(u).dot(grad(u)) / 2 - f * u, fields=[u], boundary=penalty * u ** 2 / 2)
    return NED(E, MLP([1, width, 1], seed=seed), Box([(-1, 1)]), points=points, seed=seed,
               exact=sp.sin(sp.pi * x), **options)


def compare_figures(ned: NED, results: dict[str, NEDResult], out: Path, name: str,
                    title: str) -> list[str]:
    """Solution/error and convergence figures for NED and its baselines."""
    import matplotlib
    import matplotlib.pyplot as plt

    from nedsym.plot import plot_errors

    matplotlib.use("Agg", force=False)
    X = np.linspace(-1, 1, 401)[:, None]
    exact = ned._exact(X)[:, 0]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    a1.plot(X[:, 0], exact, "k", lw=3, alpha=0.3, label="exact")
    for label, res in results.items():
        uh = ned.evaluate(X, res.theta)
        a1.plot(X[:, 0], uh, lw=1.2, label=f"{label} ({res.steps} steps)")
        a2.semilogy(X[:, 0], np.abs(uh - exact) + 1e-16, lw=1, label=label)
    a1.set(xlabel="x", ylabel="u", title=title)
    a1.legend(fontsize=8)
    a2.set(xlabel="x", ylabel="|u - u*|", title="pointwise error")
    f1 = out / f"{name}_solution.png"
    fig.savefig(f1, dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    for label, res in results.items():
        h = res.history
        axes[0].semilogy(h["step"], np.abs(h["energy"] - _floor(results)) + 1e-16, label=label)
    axes[0].set(xlabel="step", ylabel="energy - min", title="sampled energy (shifted)")
    axes[0].grid(alpha=0.3, which="both")
    axes[0].legend(fontsize=8)
    # baselines record the error every few steps: plot_errors skips the records without one
    plot_errors(results, against="step", title="test error vs step", legend_size=8, ax=axes[1])
    plot_errors(results, against="wall", title="test error vs time", legend_size=8, ax=axes[2])
    f2 = out / f"{name}_convergence.png"
    fig.savefig(f2, dpi=110)
    plt.close(fig)
    return [f1.name, f2.name]


def _floor(results) -> float:
    return min(float(np.min(r.history["energy"])) for r in results.values()) - 1e-12


def _summarize(name, results, figures, out: Path, log) -> dict:
    summary = {"demo": name, "figures": figures, "methods": {}}
    for label, res in results.items():
        h = res.history
        summary["methods"][label] = {
            "steps": res.steps, "final_error": float(h["error"][-1]),
            "best_error": float(np.nanmin(h["error"])), "wall_time_s": float(h["wall"][-1]),
            "time_to_1e-3_s": _finite(res.time_to(1e-3)), "options": res.options,
            "final_energy": float(h["energy"][-1])}
        log(f"  {label:6s} {res.steps:5d} steps  {h['wall'][-1]:7.2f} s  "
            f"error {h['error'][-1]:.2e}  (time to 1e-3: {res.time_to(1e-3):.2f} s)")
    (out / f"{name}_summary.json").write_text(json.dumps(summary, indent=2))
    log(f"wrote {', '.join(figures)} and {name}_summary.json in {out}")
    return summary


def _finite(v: float):
    return None if math.isinf(v) else float(v)


def _compare(name: str, ned: NED, header: str, steps: tuple[int, int], baselines: dict,
             title: str, out_dir, progress, log) -> dict:
    """Run NED and each baseline ``{label: (optimizer, lr)}``; write figures and summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_ned, n_base = steps
    log(f"== {name}: {header}")
    show = bool(progress)
    results = {"NED": ned.run(n_ned, progress=show)}
    for label, (opt, lr) in baselines.items():
        results[label] = ned.baseline(opt, n_base, lr=lr, progress=show, error_every=10)
    figs = compare_figures(ned, results, out, name, title)
    return _summarize(name, results, figs, out, log)


def run_fit(out_dir="nedsym-out", *, quick: bool = False, progress: bool | None = None,
            log=print) -> dict:
    """``nedsym run ned-fit``: NED (300 steps) vs GD and Adam (3000 steps) on the same fit."""
    ned = fit_problem()
    header = (f"E[u] = 1/2 ∫ (u - sin 2πx)² dx on (-1, 1); MLP [1, 20, 1] tanh; "
              f"{ned.points} Sobol points resampled per step")
    return _compare("ned-fit", ned, header, (60, 300) if quick else (300, 3000),
                    {"GD": ("gd", 0.5), "Adam": ("adam", 1e-2)}, "fit of sin(2πx)",
                    out_dir, progress, log)


def run_poisson(out_dir="nedsym-out", *, quick: bool = False, progress: bool | None = None,
                log=print) -> dict:
    """``nedsym run ned-poisson``: NED (linearly implicit) vs Adam on the same Poisson energy."""
    ned = poisson_problem()
    header = (f"E[u] = ∫ u'²/2 - π² sin(πx) u dx + 50 (u(-1)² + u(1)²); MLP [1, 20, 1] "
              f"tanh; {ned.points} Sobol points per step; stepper {ned.stepper}")
    return _compare("ned-poisson", ned, header, (50, 300) if quick else (100, 3000),
                    {"Adam": ("adam", 1e-2)}, "-u'' = π² sin(πx), u(±1) = 0",
                    out_dir, progress, log)
