"""Figures for deep relaxation: a loss and its local entropies; optimizer trajectories."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from nedsym.relax.entropy import hopf_lax, local_entropy
from nedsym.relax.loss import as_loss

__all__ = ["plot_local_entropy", "plot_trajectories"]


def plot_local_entropy(f, gammas: Sequence[float], betas: Sequence[float],
                       bounds: tuple[float, float] = (-2.5, 2.5), n: int = 301,
                       quadrature_points: int = 800, moreau: bool = True, save: str | None = None):
    r"""One panel per :math:`\beta`: the 1-D loss :math:`f` and :math:`f_\gamma` for each
    :math:`\gamma` (Cole–Hopf quadrature), plus the Moreau envelope (:math:`\beta = \infty`)
    in a last panel when ``moreau`` (Hopf–Lax by grid search: the global minimum).
    Returns the Figure (saved to ``save`` if given).
    """
    import matplotlib.pyplot as plt

    loss = as_loss(f)
    X = np.linspace(*bounds, n)[:, None]
    panels = list(betas) + ([np.inf] if moreau else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), sharey=True,
                             constrained_layout=True, squeeze=False)
    fx = loss(X)
    colors = plt.cm.viridis(np.linspace(0.15, 0.85, len(gammas)))
    for ax, beta in zip(axes[0], panels, strict=True):
        ax.plot(X[:, 0], fx, "k", lw=1.5, label="f")
        for c, g in zip(colors, gammas, strict=True):
            if np.isinf(beta):
                v = hopf_lax(loss, X, g, [(bounds[0] - 3, bounds[1] + 3)], n=12001)
            else:
                v = local_entropy(loss, X, g, beta, n=(quadrature_points,),
                                  rule="midpoint", width=12).value
            ax.plot(X[:, 0], v, color=c, label=f"γ = {g:g}")
        ax.set_title("β = ∞ (Moreau envelope)" if np.isinf(beta) else f"β = {beta:g}")
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("f and local entropy f_γ")
    axes[0][0].legend(fontsize=8)
    if save:
        fig.savefig(save, dpi=110)
    return fig


def plot_trajectories(f, results: Mapping[str, object], bounds=((-2, 2), (-2, 2)),
                      n: int = 200, title: str = "", save: str | None = None):
    """Contours of a 2-D loss with the trajectories of :class:`OptimizeResult` objects."""
    import matplotlib.pyplot as plt

    loss = as_loss(f)
    xs, ys = (np.linspace(lo, hi, n) for lo, hi in bounds)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    Z = loss(np.c_[X.ravel(), Y.ravel()]).reshape(X.shape)
    fig, ax = plt.subplots(figsize=(6, 5), constrained_layout=True)
    cs = ax.contourf(X, Y, Z, levels=40, cmap="Greys_r")
    fig.colorbar(cs, ax=ax, label="f")
    for (name, res), c in zip(results.items(), plt.cm.tab10.colors, strict=False):
        tr = res.trajectory
        ax.plot(tr[:, 0], tr[:, 1], "-", color=c, lw=1.2, alpha=0.9,
                label=f"{name} ({res.grad_evals} grads)")
        ax.plot(tr[-1, 0], tr[-1, 1], "o", color=c, ms=6)
    first = next(iter(results.values())).trajectory[0]
    ax.plot(first[0], first[1], "w*", ms=12, mec="k", label="start")
    ax.set_xlim(bounds[0])
    ax.set_ylim(bounds[1])
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    if save:
        fig.savefig(save, dpi=110)
    return fig
