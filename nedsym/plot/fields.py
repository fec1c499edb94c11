"""Figures of fields on grids: 1-D lines, 2-D images, 3-D mid-plane slices.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state, safe under Agg and
in threads). Pass ``ax=`` to draw into your own (e.g. pyplot) axes, ``save=`` to write a file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from nedsym.errors import NedsymError

__all__ = ["plot_field", "plot_snapshots"]


def _finish(fig: Figure, save: str | os.PathLike | None) -> Figure:
    if save is not None:
        fig.savefig(save, dpi=120, bbox_inches="tight")
    return fig


def _field_array(data: Any, field: int, index: int, grid: Any) -> np.ndarray:
    """A single field's spatial array from a state ``(nfields, *shape)``, a Result or a field.

    With a grid, an array of ``grid.ndim`` axes is one field; without one, a 1-D array is one
    field and anything else is a state ``(nfields, *shape)``.
    """
    if hasattr(data, "fields") and hasattr(data, "times"):
        data = data.fields[index]
    arr = np.asarray(data, dtype=float)
    stacked = arr.ndim == grid.ndim + 1 if grid is not None else arr.ndim >= 2
    if stacked:
        if not 0 <= field < arr.shape[0]:
            raise NedsymError(f"field index {field} out of range for {arr.shape[0]} field(s)")
        return arr[field]
    return arr


def _axes_of(grid: Any, shape: tuple[int, ...]) -> list[np.ndarray]:
    if grid is None:
        return [np.arange(n, dtype=float) for n in shape]
    if tuple(grid.shape) != tuple(shape):
        raise NedsymError(f"field of shape {shape} does not match grid shape {grid.shape}")
    return list(grid.axes)


def _image(ax: Axes, fig: Figure, u2: np.ndarray, ax0: np.ndarray, ax1: np.ndarray,
           labels: tuple[str, str], cmap: str, vmin: float | None, vmax: float | None,
           colorbar: bool = True, aspect: str = "equal") -> Any:
    h0 = ax0[1] - ax0[0] if len(ax0) > 1 else 1.0
    h1 = ax1[1] - ax1[0] if len(ax1) > 1 else 1.0
    extent = (ax0[0] - h0 / 2, ax0[-1] + h0 / 2, ax1[0] - h1 / 2, ax1[-1] + h1 / 2)
    im = ax.imshow(u2.T, origin="lower", extent=extent, cmap=cmap, vmin=vmin, vmax=vmax,
                   aspect=aspect, interpolation="nearest")
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    if colorbar:
        fig.colorbar(im, ax=ax)
    return im


def plot_field(data: Any, grid: Any = None, *, field: int = 0, index: int = -1,
               ax: Axes | None = None, title: str | None = None, cmap: str = "viridis",
               vmin: float | None = None, vmax: float | None = None,
               save: str | os.PathLike | None = None) -> Figure:
    """One field as a line (1-D), an image with colorbar (2-D) or three mid-plane slices (3-D).

    ``data`` is a state ``(nfields, *shape)``, a single field ``shape``, or a ``Result`` (then
    snapshot ``index`` is shown). 3-D fields show the planes through the middle cell of each axis.

    Example
    -------
    >>> fig = plot_field(np.sin(np.linspace(0, 3, 20))[None])
    >>> len(fig.axes[0].lines)
    1
    """
    u = _field_array(data, field, index, grid)
    names = tuple(getattr(grid, "axis_names", ("x", "y", "z")))
    axes = _axes_of(grid, u.shape)
    if ax is not None:
        fig = ax.figure
    else:
        # constrained layout keeps colorbars clear of the neighbouring panel's labels
        fig = Figure(figsize=(5.0 if u.ndim < 3 else 13.0, 3.6), layout="constrained")
    if u.ndim == 1:
        ax = ax or fig.add_subplot(1, 1, 1)
        ax.plot(axes[0], u)
        ax.set_xlabel(names[0])
        ax.set_ylabel(f"field {field}")
    elif u.ndim == 2:
        ax = ax or fig.add_subplot(1, 1, 1)
        _image(ax, fig, u, axes[0], axes[1], (names[0], names[1]), cmap, vmin, vmax)
    elif u.ndim == 3:
        mids = [n // 2 for n in u.shape]
        planes = [((0, 1), u[:, :, mids[2]]), ((0, 2), u[:, mids[1], :]),
                  ((1, 2), u[mids[0], :, :])]
        for p, ((a, b), sl) in enumerate(planes):
            sub = fig.add_subplot(1, 3, p + 1)
            _image(sub, fig, sl, axes[a], axes[b], (names[a], names[b]), cmap, vmin, vmax)
            other = ({0, 1, 2} - {a, b}).pop()
            sub.set_title(f"{names[other]} = {axes[other][mids[other]]:.3g}")
    else:
        raise NedsymError(f"plot_field draws 1-D to 3-D fields, got shape {u.shape}")
    if title is not None and u.ndim == 3:
        fig.suptitle(title)
    elif title is not None:
        ax.set_title(title)
    return _finish(fig, save)


def plot_snapshots(result: Any, grid: Any = None, *, field: int | None = None,
                   indices: Sequence[int] | None = None, cmap: str = "viridis",
                   save: str | os.PathLike | None = None) -> Figure:
    """Snapshots of a ``Result``: overlaid lines (1-D) or rows of images, one row per field.

    ``field``: one field index, or ``None`` (default) for every field, each row labelled with
    the field's name (``result.metadata["fields"]`` when the run has it) and with its own
    colour scale shared by its snapshots. At most 4 snapshots by default (evenly spaced, the
    first and the last included); images keep the domain's true aspect ratio; 3-D fields
    show the mid-plane ``z`` slice.

    Example
    -------
    >>> from nedsym.solve import Result
    >>> r = Result(fields=np.zeros((3, 1, 8)), times=np.arange(3.0), final=np.zeros((1, 8)))
    >>> len(plot_snapshots(r).axes[0].lines)
    3
    """
    n = len(result.times)
    if indices is None:
        indices = list(range(n)) if n <= 4 else list(np.linspace(0, n - 1, 4).astype(int))
    nfields = np.asarray(result.fields).shape[1] if n else 0
    rows = list(range(nfields)) if field is None else [field]
    meta = getattr(result, "metadata", None) or {}
    labels = list(meta.get("fields") or [f"field {i}" for i in range(max(nfields, 1))])
    per_row = [[_field_array(result.fields[i], f, 0, grid) for i in indices] for f in rows]
    axes = _axes_of(grid, per_row[0][0].shape)
    names = tuple(meta.get("dims") or getattr(grid, "axis_names", ("x", "y", "z")))
    if per_row[0][0].ndim == 1:
        fig = Figure(figsize=(5.5, 3.0 * len(rows)), layout="constrained")
        for r, (f, fields) in enumerate(zip(rows, per_row, strict=True)):
            ax = fig.add_subplot(len(rows), 1, r + 1)
            for i, u in zip(indices, fields, strict=True):
                ax.plot(axes[0], u, label=f"t = {result.times[i]:.3g}")
            ax.set_xlabel(names[0])
            ax.set_ylabel(labels[f] if f < len(labels) else f"field {f}")
            ax.legend(fontsize="small")
        return _finish(fig, save)
    if per_row[0][0].ndim == 3:
        per_row = [[u[:, :, u.shape[2] // 2] for u in fields] for fields in per_row]
    span = [float(a[-1] - a[0]) if len(a) > 1 else 1.0 for a in axes[:2]]
    aspect = span[1] / span[0] if span[0] > 0 else 1.0
    width = 3.4
    height = max(1.6, min(6.0, width * aspect)) + 0.5
    fig = Figure(figsize=(width * len(indices) + 0.8, height * len(rows)), layout="constrained")
    for r, (f, fields) in enumerate(zip(rows, per_row, strict=True)):
        vmin = float(min(u.min() for u in fields))
        vmax = float(max(u.max() for u in fields))
        for p, (i, u) in enumerate(zip(indices, fields, strict=True)):
            ax = fig.add_subplot(len(rows), len(indices), r * len(indices) + p + 1)
            _image(ax, fig, u, axes[0], axes[1], (names[0], names[1]), cmap, vmin, vmax,
                   colorbar=p == len(indices) - 1, aspect="equal")
            ax.set_title(f"t = {result.times[i]:.3g}")
            if p:
                ax.set_ylabel("")
            else:          # the row's field name on its first panel
                name = labels[f] if f < len(labels) else f"field {f}"
                ax.set_ylabel(f"{name}\n\n{names[1]}", fontsize="medium")
    return _finish(fig, save)
