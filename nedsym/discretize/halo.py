"""Ghost-cell (halo) filling for cell-centred grids: the contract the kernels rely on.

The state is a float64 array ``y`` of shape ``(nfields, *grid.shape)``. Kernels read a padded
array ``yp`` of shape ``(nfields, *[n + 2*halo for n in grid.shape])`` with the interior at
``yp[:, halo:-halo, ...]``. Each side of each axis of each field has a *kind* and a *value*
(``kinds: int64[nfields, ndim, 2]``, ``values: float64[nfields, ndim, 2]``, side 0 = lo, 1 = hi):

* ``PERIODIC = 0``: ghosts copy the interior cells one period away (value unused).
* ``EVEN = 1`` (Neumann): the ghost in layer ``k`` (``k = 0`` touches the boundary) is
  ``mirror + (2k+1) * value`` where ``mirror`` is its reflection in the boundary face. With
  ``value = g * h`` this is :math:`u_{ghost} = u_{mirror} + g\\,d`, ``d = (2k+1)h`` the distance
  between ghost and mirror, for the outward flux :math:`g = \\partial u/\\partial n`.
  **The filler never sees h: callers store ``flux * h`` in ``values``** (``BoundaryData`` does).
* ``ODD = 2`` (Dirichlet): ``ghost = 2*value - mirror`` for every layer.

Ghosts are filled axis by axis (axis 0 first); each axis is filled over the full padded
extent of all other axes, so corner ghosts are reflections of edge ghosts, consistently.

Accuracy: even/odd reflection is exact to second order. For zero data it makes a centred
stencil see the even/odd extension of ``u``; with nonzero Dirichlet/Neumann data the
reflection is a 2nd-order (O(h^2)) approximation of the boundary condition at the face, so
higher-order interior stencils drop to 2nd order next to such boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numba
import numpy as np

from nedsym.errors import BoundaryConditionError, DiscretizationError

__all__ = ["PERIODIC", "EVEN", "ODD", "halo_filler", "fill_ghosts", "fill_halo_numpy",
           "BoundaryData"]

PERIODIC = 0
EVEN = 1
ODD = 2


@numba.njit(cache=True)
def _axis_view(yp, f, a):  # pragma: no cover - compiled
    """Field ``f`` of ``yp`` as ``(pre, n_a + 2*halo, post)`` around spatial axis ``a``."""
    pre = 1
    for b in range(a):
        pre *= yp.shape[1 + b]
    npad = yp.shape[1 + a]
    post = yp[f].size // (pre * npad)
    return yp[f].reshape(yp[f].size).reshape((pre, npad, post))


@numba.njit(cache=True)
def fill_sides(yp, depth, kinds, values, min_kind):  # pragma: no cover - compiled
    """Fill ``depth`` ghost layers, axis by axis (corners follow), on every side whose kind
    ``kinds[f, a, side]`` is at least ``min_kind``: ``PERIODIC`` fills all sides; ``EVEN``
    leaves periodic sides and sides marked ``-1`` alone (a chunk's sides facing neighbours)."""
    for f in range(yp.shape[0]):
        for a in range(yp.ndim - 1):
            v = _axis_view(yp, f, a)
            for side in range(2):
                if kinds[f, a, side] >= min_kind:
                    _fill_side_par(v, depth, side, kinds[f, a, side], values[f, a, side],
                                   values[f, a], False)


@numba.njit(parallel=True, cache=True)
def _fill_side_par(v, halo, side, kind, value, face, use_face):  # pragma: no cover - compiled
    """One side of the middle axis of ``v`` (``(pre, n + 2*halo, post)``), in parallel over the
    face: a constant ``value``, or per-face values ``face[i*post + j]`` when ``use_face``.
    The sides of inner axes are strided (a cache line per ghost), so they are worth
    splitting across threads."""
    npad = v.shape[1]
    n = npad - 2 * halo
    pre, post = v.shape[0], v.shape[2]
    for k in range(halo):
        if side == 0:
            g = halo - 1 - k
            src = halo + n - 1 - k if kind == 0 else halo + k
        else:
            g = halo + n + k
            src = halo + k if kind == 0 else halo + n - 1 - k
        for q in numba.prange(pre * post):
            i = q // post
            j = q - i * post
            d = face[q] if use_face else value
            if kind == 0:
                v[i, g, j] = v[i, src, j]
            elif kind == 1:
                v[i, g, j] = v[i, src, j] + (2 * k + 1) * d
            else:
                v[i, g, j] = 2.0 * d - v[i, src, j]


@numba.njit(cache=True)
def fill_ghosts(yp, halo, kinds, values, vmap, faces, slot):  # pragma: no cover - compiled
    """Fill every ghost cell of ``yp``, constant and time-dependent sides alike.

    Sides with ``vmap[f, a, side] < 0`` use ``values``; a side with ``vmap[f, a, side] = v``
    takes its face values from ``faces[v, slot]`` (flattened ``(pre, post)`` face, already
    scaled by h for Neumann sides), where ``slot`` indexes the times a caller tabulated
    (:meth:`BoundaryData.face_table`). Axis by axis, as :func:`fill_sides`; each side in
    parallel over its face.
    """
    for f in range(yp.shape[0]):
        for a in range(yp.ndim - 1):
            v = _axis_view(yp, f, a)
            for side in range(2):
                m = vmap[f, a, side]
                if m < 0:
                    _fill_side_par(v, halo, side, kinds[f, a, side], values[f, a, side],
                                   values[f, a], False)
                else:
                    _fill_side_par(v, halo, side, kinds[f, a, side], 0.0, faces[m, slot],
                                   True)


@numba.njit(cache=True)
def _fill_all(yp, halo, kinds, values):  # pragma: no cover - compiled
    fill_sides(yp, halo, kinds, values, PERIODIC)


_SUPPORTED_NDIM = (1, 2, 3)


def halo_filler(ndim: int):
    """Return the compiled (``numba.njit(cache=True)``) filler ``fill(yp, halo, kinds, values)``.

    ``yp`` must be C-contiguous float64 of shape ``(nfields, *padded_shape)`` with ``ndim``
    spatial axes, ``kinds``/``values`` of shape ``(nfields, ndim, 2)``. See the module
    docstring for the kind codes and the order in which corners are filled.

    Example
    -------
    >>> fill = halo_filler(1)
    >>> yp = np.array([[0.0, 1.0, 2.0, 0.0]])
    >>> fill(yp, 1, np.zeros((1, 1, 2), np.int64), np.zeros((1, 1, 2)))
    >>> yp.tolist()
    [[2.0, 1.0, 2.0, 1.0]]
    """
    if ndim not in _SUPPORTED_NDIM:
        raise DiscretizationError(f"halo_filler supports ndim 1, 2, 3; got ndim={ndim!r}")
    return _fill_all


def _check_padded(yp: np.ndarray, halo: int, kinds: np.ndarray) -> None:
    if yp.ndim < 2:
        raise DiscretizationError(
            f"padded array must have shape (nfields, *padded_shape); got shape {yp.shape}")
    for a, npad in enumerate(yp.shape[1:]):
        n = npad - 2 * halo
        if n < 1:
            raise DiscretizationError(
                f"padded axis {a} has length {npad}, too short for halo={halo}")
        if halo > n and np.any(kinds[:, a, :] == PERIODIC):
            raise DiscretizationError(
                f"halo={halo} exceeds the {n} interior cells of periodic axis {a}")
        if halo > n:
            raise DiscretizationError(
                f"halo={halo} exceeds the {n} interior cells of axis {a}; mirror ghosts need "
                f"halo <= n")


def fill_halo_numpy(yp: np.ndarray, halo: int, kinds: np.ndarray, values: np.ndarray) -> None:
    """Reference (NumPy) implementation of the halo filler; same contract as :func:`halo_filler`.

    Example
    -------
    >>> yp = np.array([[0.0, 1.0, 2.0, 0.0]])
    >>> fill_halo_numpy(yp, 1, np.full((1, 1, 2), ODD), np.zeros((1, 1, 2)))
    >>> yp.tolist()
    [[-1.0, 1.0, 2.0, -2.0]]
    """
    kinds = np.asarray(kinds)
    values = np.asarray(values, dtype=np.float64)
    _check_padded(yp, halo, kinds)
    for f in range(yp.shape[0]):
        for a in range(yp.ndim - 1):
            for side in range(2):
                _fill_side_numpy(yp[f], halo, a, side, int(kinds[f, a, side]),
                                 values[f, a, side])


def _fill_side_numpy(u: np.ndarray, halo: int, axis: int, side: int, kind: int,
                     value: Any) -> None:
    """Fill one side of ``axis`` of one field; ``value`` is a scalar or a face array."""
    n = u.shape[axis] - 2 * halo

    def sl(i: int) -> tuple:
        idx: list[Any] = [slice(None)] * u.ndim
        idx[axis] = i
        return tuple(idx)

    for k in range(halo):
        if side == 0:
            g, mirror, wrap = halo - 1 - k, halo + k, halo + n - 1 - k
        else:
            g, mirror, wrap = halo + n + k, halo + n - 1 - k, halo + k
        if kind == PERIODIC:
            u[sl(g)] = u[sl(wrap)]
        elif kind == EVEN:
            u[sl(g)] = u[sl(mirror)] + (2 * k + 1) * value
        elif kind == ODD:
            u[sl(g)] = 2.0 * value - u[sl(mirror)]
        else:
            raise BoundaryConditionError(
                f"unknown halo kind {kind} on axis {axis}, side {side}; valid kinds are "
                f"PERIODIC=0, EVEN=1, ODD=2")


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
        fill_ghosts(yp, self.halo, self.kinds, self.values, self.vmap(), self._table, 0)
