"""Figures of run histories: energy decay, residual norms and test errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nedsym.errors import NedsymError
from nedsym.plot.fields import _finish

__all__ = ["plot_energy", "plot_residual", "plot_errors"]


def _series(data: Any, values: str, times: str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(data, tuple) and len(data) == 2:
        t, v = data
    else:
        t, v = getattr(data, times), getattr(data, values)
    t, v = np.asarray(t, dtype=float), np.asarray(v, dtype=float)
    if t.shape != v.shape or t.size == 0:
        raise NedsymError(f"no {values} history to plot (got {v.size} values, {t.size} times)")
    return t, v


def _axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=(5.0, 3.6))
    return fig, fig.add_subplot(1, 1, 1)


def plot_energy(data: Any, *, subtract_min: bool = False, log: bool | None = None,
                ax: Axes | None = None, save: str | os.PathLike | None = None) -> Figure:
    """Energy history :math:`E(t)` of a ``Result`` (or a ``(times, energy)`` pair).

    ``subtract_min=True`` plots :math:`E(t) - \\min_s E(s)` (the last point, where it is zero,
    is dropped) on a log scale, which shows the decay rate; otherwise the y scale is log when
    all energies are positive (``log=`` forces it).

    Example
    -------
    >>> fig = plot_energy((np.arange(4.0), np.array([4.0, 2.0, 1.5, 1.4])), subtract_min=True)
    >>> fig.axes[0].get_yscale(), len(fig.axes[0].lines[0].get_xdata())
    ('log', 3)
    """
    t, e = _series(data, "energy", "energy_times")
    fig, ax = _axes(ax)
    if subtract_min:
        d = e - e.min()
        keep = d > 0
        ax.plot(t[keep], d[keep], marker=".", ms=3)
        ax.set_ylabel(r"$E - E_{\min}$")
        ax.set_yscale("log")
    else:
        ax.plot(t, e, marker=".", ms=3)
        ax.set_ylabel("$E$")
        if log if log is not None else bool(np.all(e > 0)):
            ax.set_yscale("log")
    ax.set_xlabel("$t$")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))   # long time labels must not overlap
    ax.set_title("energy")
    return _finish(fig, save)


def plot_residual(data: Any, *, tol: float | None = None, ax: Axes | None = None,
                  save: str | os.PathLike | None = None) -> Figure:
    """Residual-norm history (log scale), with the steady-state tolerance as a line if given.

    Example
    -------
    >>> fig = plot_residual((np.arange(3.0), np.array([1.0, 0.1, 0.01])), tol=0.05)
    >>> len(fig.axes[0].lines)
    2
    """
    t, r = _series(data, "residual", "residual_times")
    fig, ax = _axes(ax)
    ax.semilogy(t, r, marker=".", ms=3)
    if tol is not None:
        ax.axhline(tol, color="k", ls="--", lw=1, label=f"tol = {tol:.2g}")
        ax.legend(fontsize="small")
    ax.set_xlabel("$t$")
    ax.set_ylabel("residual")
    ax.set_title("residual")
    return _finish(fig, save)


def plot_errors(runs: Mapping[str, Any], *, against: str = "wall", title: str | None = None,
                legend_size: float | str | None = None, ax: Axes | None = None,
                save: str | os.PathLike | None = None) -> Figure:
    """Test-error histories of several runs (NED and its baselines, each a result with
    ``error`` and ``wall``/``step`` histories, or a ``(x, error)`` pair), log–log against
    wall time (``against="wall"``) or step. Records without an error (NaN: baselines
    evaluate it every few steps) are skipped.

    Example
    -------
    >>> fig = plot_errors({"a": (np.array([1.0, 2.0, 3.0]), np.array([1.0, np.nan, 0.1]))})
    >>> len(fig.axes[0].lines[0].get_xdata()), fig.axes[0].get_xscale()
    (2, 'log')
    """
    if against not in ("wall", "step"):
        raise NedsymError(f"against must be 'wall' or 'step', got {against!r}")
    fig, ax = _axes(ax)
    for label, run in runs.items():
        x, err = _series(run, "error", against)
        ok = np.isfinite(err)
        ax.loglog(x[ok], err[ok], label=label)
    ax.set(xlabel="wall time [s]" if against == "wall" else "step",
           ylabel="relative L² error")
    if title is not None:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=legend_size)
    return _finish(fig, save)
