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

import numpy as np

from nedsym.codegen.ir import HALO_SPEC, HaloSpec
from nedsym.errors import BoundaryConditionError, CodegenError, DiscretizationError

# fill_ghosts and fill_sides are generated on first use (module __getattr__)
__all__ = ["PERIODIC", "EVEN", "ODD", "SPEC", "HostHaloFiller", "halo_filler",
           "fill_halo_numpy", "fill_side_numpy"]

#: the rules every target prints its ghost-cell kernel from
SPEC = HALO_SPEC
PERIODIC, EVEN, ODD = (r.code for r in SPEC.rules)

#: faces with fewer ghost cells than this are filled by one thread (a parallel launch costs
#: more than the copy: 4 launches made a 128² fill take 0.11 ms instead of 0.01 ms)
PARALLEL_FACE = 16384


def _host_module():
    from nedsym.codegen.printers.halo import numba_halo_source
    from nedsym.codegen.targets import get_target

    return get_target("numba").load_module(numba_halo_source(SPEC, PARALLEL_FACE),
                                           "nsk_halo", resident=True, kind="halo")


#: the compiled fillers, generated and loaded on first use (importing this module writes
#: nothing to the kernel cache):
#:
#: * ``fill_sides(yp, depth, kinds, values, min_kind)``: fill ``depth`` ghost layers, axis by
#:   axis (corners follow), on every side whose kind is at least ``min_kind``: ``PERIODIC``
#:   fills all sides; ``EVEN`` leaves periodic sides and sides marked ``-1`` alone (a chunk's
#:   sides facing neighbours; a chunked run supports the wrap rule ``PERIODIC`` only).
#: * ``fill_ghosts(yp, halo, kinds, values, vmap, faces, slot)``: every ghost cell, constant
#:   and time-dependent sides alike. Sides with ``vmap[f, a, side] < 0`` use ``values``; a
#:   side with ``vmap[f, a, side] = v`` takes its face values from ``faces[v, slot]``
#:   (flattened ``(pre, post)`` face, already scaled by h for Neumann sides), where ``slot``
#:   indexes the times a caller tabulated
#:   (:meth:`~nedsym.discretize.halo.BoundaryData.face_table`).
_COMPILED = {"fill_sides": "fill_sides", "fill_ghosts": "fill_ghosts", "_fill_all": "fill_all"}


def _compiled(name: str):
    if name not in globals():
        globals()[name] = getattr(_host_module(), _COMPILED[name])
    return globals()[name]


def __getattr__(name: str):
    if name in _COMPILED:
        return _compiled(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    return _compiled("_fill_all")


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


def fill_halo_numpy(yp: np.ndarray, halo: int, kinds: np.ndarray, values: np.ndarray,
                    spec: HaloSpec = HALO_SPEC) -> None:
    """Reference (NumPy) implementation of the halo filler; same contract as :func:`halo_filler`
    (``spec``: the rules the kind codes refer to).

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
                fill_side_numpy(yp[f], halo, a, side, int(kinds[f, a, side]),
                                values[f, a, side], spec)


def fill_side_numpy(u: np.ndarray, halo: int, axis: int, side: int, kind: int,
                    value: Any, spec: HaloSpec = HALO_SPEC) -> None:
    """Fill one side of ``axis`` of one field (the NumPy reference: it evaluates the rules of
    :data:`SPEC`); ``value`` is a scalar or a face array (NumPy or CuPy)."""
    n = u.shape[axis] - 2 * halo

    def sl(i: int) -> tuple:
        idx: list[Any] = [slice(None)] * u.ndim
        idx[axis] = i
        return tuple(idx)

    try:
        rule = spec.rule(kind)
    except CodegenError as exc:
        raise BoundaryConditionError(f"{exc} (axis {axis}, side {side})") from None
    for k in range(halo):
        if side == 0:
            g, mirror, wrap = halo - 1 - k, halo + k, halo + n - 1 - k
        else:
            g, mirror, wrap = halo + n + k, halo + n - 1 - k, halo + k
        src = wrap if rule.source == "wrap" else mirror
        u[sl(g)] = rule.evaluate(u[sl(src)], k, value)


class HostHaloFiller:
    """The CPU targets' ghost filler for a grid's boundary tables: ``fill(yp, t)``.

    ``boundary`` is a :class:`~nedsym.discretize.halo.BoundaryData`; the compiled filler
    works in float64, so float32 states go through a float64 copy.
    """

    def __init__(self, boundary: Any, dtype: str = "float64"):
        self.boundary, self.dtype = boundary, dtype
        self._yp64: np.ndarray | None = None

    def fill(self, yp: np.ndarray, t: float = 0.0) -> None:
        """Fill every ghost cell of ``yp`` for time ``t``, in place."""
        if yp.dtype == np.float64:
            self.boundary.fill(yp, t)
            return
        if self._yp64 is None or self._yp64.shape != yp.shape:
            self._yp64 = np.zeros(yp.shape)
        self._yp64[...] = yp
        self.boundary.fill(self._yp64, t)
        yp[...] = self._yp64
