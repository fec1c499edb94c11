"""Boundary data for the ghost-cell contract of :mod:`nedsym.codegen.halo`.

The contract (kind codes, layer formulas) and the compiled fillers are in
:mod:`nedsym.codegen.halo`; this module builds the per-field, per-side tables a grid needs
(:class:`BoundaryData`) and re-exports the contract's names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nedsym.codegen import halo as _halo
from nedsym.codegen.halo import (  # noqa: F401 - the contract, re-exported
    EVEN,
    ODD,
    PERIODIC,
    _check_padded,
    fill_halo_numpy,
    halo_filler,
)
from nedsym.errors import DiscretizationError

__all__ = ["PERIODIC", "EVEN", "ODD", "halo_filler", "fill_halo_numpy", "BoundaryData"]


class BoundaryData:
    """Halo kinds and values for a set of fields on a grid, and the fill procedure.

    Built by :meth:`Grid.boundary_data`. ``kinds[f, a, s]`` / ``values[f, a, s]`` follow the
    module contract (``values`` of Neumann sides hold ``flux * h_a``). Sides whose datum is a
    callable ``g(*coords, t)`` are *varying*: :meth:`update` evaluates them on the face (over the
    padded extent of the other axes, ghost-cell centres included) at time ``t``.

    Accuracy: the even/odd reflection imposes Dirichlet and Neumann data to second order in h.

    Example
    -------
    >>> from nedsym.discretize import Grid
    >>> g = Grid((4,), [(0.0, 1.0)], bc="dirichlet")
    >>> bd = g.boundary_data(["u"], halo=1)
    >>> yp = g.pad(np.ones((1, 4)), 1)
    >>> bd.fill(yp)
    >>> yp[0, [0, -1]].tolist()
    [-1.0, -1.0]
    """

    def __init__(self, grid: Any, field_names: Sequence[str], halo: int,
                 bcs: dict[str, Any]) -> None:
        if halo < 1:
            raise DiscretizationError(f"halo must be >= 1, got {halo!r}")
        self.grid = grid
        self.field_names = list(field_names)
        self.halo = int(halo)
        nf, nd = len(self.field_names), grid.ndim
        self.kinds = np.zeros((nf, nd, 2), dtype=np.int64)
        self.values = np.zeros((nf, nd, 2), dtype=np.float64)
        self._varying: list[tuple[int, int, int, Any]] = []   # (field, axis, side, callable)
        self.faces: dict[tuple[int, int, int], np.ndarray] = {}
        for f, name in enumerate(self.field_names):
            for a in range(nd):
                for s in range(2):
                    bc = bcs[name][a][s]
                    self.kinds[f, a, s] = bc.kind
                    scale = grid.spacing[a] if bc.kind == EVEN else 1.0
                    if bc.varying:
                        self._varying.append((f, a, s, bc.data))
                    else:
                        self.values[f, a, s] = float(bc.data) * scale
        self._filler = halo_filler(nd)
        self._face_coords: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        self.t: float | None = None

    @property
    def varying(self) -> bool:
        """Whether some side has space/time-dependent data."""
        return bool(self._varying)

    def _coords(self, axis: int, side: int) -> tuple[np.ndarray, ...]:
        key = (axis, side)
        if key not in self._face_coords:
            g, h = self.grid, self.halo
            axes = []
            for b in range(g.ndim):
                if b == axis:
                    axes.append(np.array([g.bounds[b][side]]))
                else:
                    lo, step, n = g.bounds[b][0], g.spacing[b], g.shape[b]
                    axes.append(lo + (np.arange(n + 2 * h) - h + 0.5) * step)
            mesh = np.meshgrid(*axes, indexing="ij")
            self._face_coords[key] = tuple(np.take(m, 0, axis=axis) for m in mesh)
        return self._face_coords[key]

    def update(self, t: float) -> None:
        """Evaluate the varying faces at time ``t`` into ``faces[(f, a, s)]`` (``(pre, post)``)."""
        for f, a, s, func in self._varying:
            coords = self._coords(a, s)
            val = np.broadcast_to(np.asarray(func(*coords, t), dtype=np.float64),
                                  coords[0].shape)
            if self.kinds[f, a, s] == EVEN:
                val = val * self.grid.spacing[a]
            pre = int(np.prod(coords[0].shape[:a]))
            self.faces[(f, a, s)] = np.ascontiguousarray(val).reshape(pre, -1)
        self.t = t

    def vmap(self) -> np.ndarray:
        """``int64[nfields, ndim, 2]``: the row of :meth:`face_table` of each time-dependent
        side, ``-1`` for constant sides (the ``vmap`` argument of :func:`fill_ghosts`)."""
        out = np.full(self.kinds.shape, -1, dtype=np.int64)
        for m, (f, a, s, _) in enumerate(self._varying):
            out[f, a, s] = m
        return out

    def face_table(self, times) -> np.ndarray:
        """Face values of every time-dependent side at each of ``times``.

        ``float64[n_varying, len(times), max_face_size]`` (each face flattened as
        ``(pre, post)``; Neumann sides scaled by h), the ``faces`` argument of
        :func:`fill_ghosts`. Empty ``(0, 1, 1)`` when no side varies.
        """
        if not self._varying:
            return np.zeros((0, 1, 1))
        times = list(times)
        sizes = [self._coords(a, s)[0].size for _, a, s, _ in self._varying]
        table = np.zeros((len(self._varying), len(times), max(sizes)))
        for m, (f, a, s, func) in enumerate(self._varying):
            coords = self._coords(a, s)
            scale = self.grid.spacing[a] if self.kinds[f, a, s] == EVEN else 1.0
            for q, t in enumerate(times):
                val = np.broadcast_to(np.asarray(func(*coords, t), dtype=np.float64),
                                      coords[0].shape)
                table[m, q, :sizes[m]] = val.reshape(-1) * scale
        return table

    def fill(self, yp: np.ndarray, t: float = 0.0) -> None:
        """Fill every ghost cell of ``yp`` (C-contiguous, padded) for time ``t``.

        Constant data: one call to the compiled filler. Varying data: :func:`fill_ghosts` with
        the face arrays evaluated at ``t`` (cached until ``t`` changes).
        """
        if not yp.flags.c_contiguous or yp.dtype != np.float64:
            raise DiscretizationError("the padded array must be C-contiguous float64")
        if yp.shape[0] != len(self.field_names):
            raise DiscretizationError(
                f"padded array has {yp.shape[0]} fields, boundary data is for "
                f"{self.field_names}")
        _check_padded(yp, self.halo, self.kinds)
        if not self._varying:
            self._filler(yp, self.halo, self.kinds, self.values)
            return
        if self.t != t or not self.faces:
            self.update(t)
        if getattr(self, "_table_t", None) != self.t:     # the faces as fill_ghosts reads them
            rows = [self.faces[(f, a, s)].reshape(-1) for f, a, s, _ in self._varying]
            self._table = np.zeros((len(rows), 1, max(r.size for r in rows)))
            for m, r in enumerate(rows):
                self._table[m, 0, :r.size] = r
            self._table_t = self.t
        _halo.fill_ghosts(yp, self.halo, self.kinds, self.values, self.vmap(), self._table, 0)


def __getattr__(name: str):
    # the compiled fillers are generated on first use (nedsym.codegen.halo)
    if name in ("fill_ghosts", "fill_sides"):
        return getattr(_halo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
