"""Ghost-cell (halo) filling for cell-centred grids: the contract the kernels rely on.

The compiled fillers live in codegen (they are kernels); the grid-side table builder
(:class:`nedsym.discretize.halo.BoundaryData`) lives with the grids.

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

from typing import Any

import numba
import numpy as np

from nedsym.errors import BoundaryConditionError, DiscretizationError

__all__ = ["PERIODIC", "EVEN", "ODD", "halo_filler", "fill_ghosts", "fill_sides",
           "fill_halo_numpy"]

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


#: faces with fewer ghost cells than this are filled by one thread (a parallel launch costs
#: more than the copy: 4 launches made a 128² fill take 0.11 ms instead of 0.01 ms)
PARALLEL_FACE = 16384


@numba.njit(cache=True)
def _fill_side_rows(v, halo, side, kind, value, face, use_face, q0, q1):  # pragma: no cover
    """Face cells ``q0:q1`` of one side of the middle axis of ``v`` (``(pre, n + 2*halo,
    post)``): a constant ``value``, or per-face values ``face[i*post + j]`` when ``use_face``."""
    npad = v.shape[1]
    n = npad - 2 * halo
    post = v.shape[2]
    for k in range(halo):
        if side == 0:
            g = halo - 1 - k
            src = halo + n - 1 - k if kind == 0 else halo + k
        else:
            g = halo + n + k
            src = halo + k if kind == 0 else halo + n - 1 - k
        for q in range(q0, q1):
            i = q // post
            j = q - i * post
            d = face[q] if use_face else value
            if kind == 0:
                v[i, g, j] = v[i, src, j]
            elif kind == 1:
                v[i, g, j] = v[i, src, j] + (2 * k + 1) * d
            else:
                v[i, g, j] = 2.0 * d - v[i, src, j]


@numba.njit(parallel=True, cache=True)
def _fill_side_par(v, halo, side, kind, value, face, use_face):  # pragma: no cover - compiled
    """One side of the middle axis of ``v``; split across threads only when the face is
    large (the sides of inner axes are strided, a cache line per ghost, so big ones pay).
    The small-face branch never enters the parallel region."""
    m = v.shape[0] * v.shape[2]
    if m * halo < PARALLEL_FACE:
        _fill_side_rows(v, halo, side, kind, value, face, use_face, 0, m)
    else:
        nchunk = 64
        step = (m + nchunk - 1) // nchunk
        for c in numba.prange(nchunk):
            _fill_side_rows(v, halo, side, kind, value, face, use_face, c * step,
                            min(m, (c + 1) * step))


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
