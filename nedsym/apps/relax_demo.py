"""``nedsym run relax-landscape``: local entropy of a wide and a sharp well, and optimizers.

1. The 1-D loss with a deep sharp well at -1 and a wide well near 1: :math:`f_\\gamma` for
   several :math:`\\gamma, \\beta` (Cole–Hopf quadrature), the Moreau envelope, and the
   HJ grid solution (generated Godunov kernel) checked against the quadrature.
2. From :math:`x_0 = -0.9`: gradient descent ends in the sharp well; Entropy-SGD
   (:math:`\\beta = 2, \\gamma = 1`) over several seeds, counted in the wide well.
3. A 2-D landscape: trajectories of SGD, Nesterov, Entropy-SGD and HJ-prox at equal
   effective epochs (gradient evaluations).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import sympy as sp

from nedsym.relax.entropy import local_entropy
from nedsym.relax.landscapes import wide_sharp_1d, wide_sharp_2d
from nedsym.relax.loss import Loss
from nedsym.relax.optim import SGD, EntropySGD, HJProx, Nesterov, Objective

__all__ = ["run_landscape", "entropy_sgd_wide_well"]

NAME = "relax-landscape"


def entropy_sgd_wide_well(seeds, outer_steps: int = 150, loss: Loss | None = None,
                          progress: bool = False) -> list[float]:
    """Final points of Entropy-SGD (β = 2, γ = 1) from -0.9 on the 1-D wide/sharp loss."""
    loss = loss or Loss.from_expr(wide_sharp_1d())
    obj = Objective.from_loss(loss)
    opt = EntropySGD(lr=0.02, gamma=1.0, beta=2.0, inner_steps=100, inner_lr=0.003,
                     alpha=0.02, warm_start=True)
    return [float(opt.run(obj, [-0.9], epochs=100 * outer_steps, seed=s,
                          record_trajectory=False, progress=progress).x[0]) for s in seeds]


def _grid_check(log) -> dict:
    """HJ grid solution (generated kernel) vs Cole–Hopf quadrature at γ = 1, β = 2."""
    from nedsym.discretize import Grid
    from nedsym.flows.hamilton_jacobi import HamiltonJacobi

    x = sp.Symbol("x", real=True)
    f = wide_sharp_1d(x)
    hj = HamiltonJacobi(f, coords=[x], beta=2.0)
    grid = Grid(800, [(-4, 4)], bc="neumann")
    sol = hj.discretize(grid, backend="numba").solve(1.0)
    X = grid.axes[0]
    inner = np.abs(X) <= 2.5
    ref = local_entropy(f, X[inner][:, None], 1.0, 2.0, n=(1600,), rule="midpoint",
                        width=12).value
    err = float(np.abs(sol.u[inner] - ref).max())
    log(f"HJ grid (Godunov, 800 cells, {sol.steps} steps, {sol.wall_time:.2f} s) vs Cole–Hopf "
        f"quadrature at γ=1, β=2: max |difference| {err:.3e} on |x| ≤ 2.5")
    return {"hj_grid_cells": 800, "hj_grid_steps": sol.steps, "hj_grid_max_error": err}


def run_landscape(out_dir="nedsym-out", *, quick: bool = False, progress: bool | None = None,
                  log=print) -> dict:
    """Run the demo; write ``relax-landscape_entropy.png``, ``..._trajectories.png`` and
    ``..._summary.json`` into ``out_dir``; return the summary."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nedsym.relax.plot import plot_local_entropy, plot_trajectories

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    show = bool(progress)
    log("== relax-landscape: local entropy f_γ = -(1/β) log ∫ G_γ(x-y) e^{-βf(y)} dy of "
        "a wide and a sharp well; Entropy-SGD vs SGD")
    f1 = Loss.from_expr(wide_sharp_1d())
    log(f"f(x) = {f1.expr}")
    fig = plot_local_entropy(f1, gammas=[0.1, 0.5, 1.0, 2.0], betas=[2.0, 20.0],
                             n=121 if quick else 301, quadrature_points=400 if quick else 800,
                             save=str(out / f"{NAME}_entropy.png"))
    plt.close(fig)
    summary: dict = {"problem": NAME}
    if not quick:
        summary.update(_grid_check(log))
    obj1 = Objective.from_loss(f1)
    gd = SGD(lr=0.002).run(obj1, [-0.9], epochs=3000, record_trajectory=False)
    seeds = range(3 if quick else 10)
    ends = entropy_sgd_wide_well(seeds, 60 if quick else 150, f1, show)
    wide = [e for e in ends if abs(e - 0.98) < 0.75]
    sharp = [e for e in ends if abs(e + 1.0) < 0.3]
    between = len(ends) - len(wide) - len(sharp)
    log(f"1-D from x0 = -0.9: gradient descent ends at {gd.x[0]:.3f} (sharp well); "
        f"Entropy-SGD (β=2, γ=1) ends in the wide well in {len(wide)}/{len(ends)} seeds, "
        f"in the sharp well in {len(sharp)}, between the wells (still crossing) in {between} "
        f"(final x: {', '.join(f'{e:.2f}' for e in ends)})")
    if quick and len(wide) < len(ends):
        log("  (--quick stops after 60 outer steps, before every seed has crossed; the full "
            "run takes 150 and 10 seeds)")
    summary.update({"gd_1d_final": float(gd.x[0]), "entropy_sgd_1d_finals": ends,
                    "entropy_sgd_1d_wide": len(wide), "entropy_sgd_1d_sharp": len(sharp),
                    "entropy_sgd_1d_between": between, "entropy_sgd_1d_seeds": len(ends)})

    f2 = Loss.from_expr(wide_sharp_2d())
    obj2 = Objective.from_loss(f2)
    x0 = [-0.9, 0.3]
    epochs = 3000 if quick else 15000
    L = 100
    methods = {
        "SGD": SGD(lr=0.001),
        "Nesterov": Nesterov(lr=0.0005),
        "Entropy-SGD": EntropySGD(lr=0.02, gamma=1.0, beta=2.0, inner_steps=L, inner_lr=0.002,
                                  alpha=0.02, warm_start=True),
        # damping < 2/(1 + t L) keeps the fixed point a contraction in the sharp well
        "HJ-prox": HJProx(lr=0.1, t=1.0, iterations=10, damping=0.01),
    }
    results = {name: m.run(obj2, x0, epochs=epochs, seed=0, progress=show)
               for name, m in methods.items()}
    def where(z) -> str:
        """Which well a 2-D end point is in (sharp at (-1, 0.5), wide at (1, -0.5))."""
        if np.hypot(z[0] + 1, z[1] - 0.5) < 0.25:
            return "sharp well"
        if np.hypot(z[0] - 1, z[1] + 0.5) < 1.0:
            return "wide well"
        return "neither well"

    for name, r in results.items():
        log(f"2-D {name:12s}: {r.steps:6d} steps, {r.grad_evals} gradient evaluations → "
            f"x = ({r.x[0]:+.3f}, {r.x[1]:+.3f}), f = {r.losses[-1]:+.4f} ({where(r.x)})")
    if quick and where(results["Entropy-SGD"].x) != "wide well":
        log("  (with --quick Entropy-SGD gets 3000 gradient evaluations, 30 outer steps, and "
            "has not reached the wide well in 2-D; the full run gives every method 15000)")
    fig = plot_trajectories(f2, results, title=f"equal budget: {epochs} gradient evaluations",
                            save=str(out / f"{NAME}_trajectories.png"))
    plt.close(fig)
    summary["trajectories_2d"] = {
        name: {"final": r.x.tolist(), "loss": r.losses[-1], "grad_evals": r.grad_evals,
               "steps": r.steps, "ends_in": where(r.x)} for name, r in results.items()}
    summary["figures"] = [f"{NAME}_entropy.png", f"{NAME}_trajectories.png"]
    summary["wall_time_s"] = time.perf_counter() - t0
    (out / f"{NAME}_summary.json").write_text(json.dumps(summary, indent=2))
    log(f"done in {summary['wall_time_s']:.1f} s; wrote {out / summary['figures'][0]}, "
        f"{out / summary['figures'][1]}, {out / (NAME + '_summary.json')}")
    return summary
