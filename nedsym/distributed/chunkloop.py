"""Generated fused time loops on a chunk: the halo filler they call, and their cache.

The compiled Euler and RK4 loops of :mod:`nedsym.codegen.loops` call a halo filler
``fill(yp, halo, kinds, values)`` before every stage. On a chunk only the *physical* sides
may be filled (the others hold the neighbours' cells), and the ghosts are ``depth`` layers
deep, not the kernel's halo. :func:`fill_chunk` reads both from ``kinds`` of shape
``(nfields, ndim, 3)``: ``kinds[f, a, s]`` is the side's kind (``-1``: not physical, left
alone) and ``kinds[f, a, 2]`` the depth. It fills axis by axis with the same arithmetic as
the single-grid filler.
"""

from __future__ import annotations

import numba
import numpy as np

from nedsym.codegen.halo import EVEN, fill_sides

__all__ = ["fill_chunk", "chunk_kinds", "chunk_loop"]

_LOOPS: dict[str, object] = {}


@numba.njit(cache=True)
def fill_chunk(yp, halo, kinds, values):  # pragma: no cover - compiled
    fill_sides(yp, kinds[0, 0, 2], kinds, values, EVEN)   # physical, non-periodic sides only


def chunk_kinds(bc_kinds: np.ndarray, physical, depth: int) -> np.ndarray:
    """``kinds`` for :func:`fill_chunk`: the boundary kinds on physical sides, ``-1`` elsewhere,
    and the ghost depth in the third slot."""
    nf, nd, _ = bc_kinds.shape
    out = np.full((nf, nd, 3), -1, dtype=np.int64)
    for a in range(nd):
        for s in range(2):
            if physical[a][s]:
                out[:, a, s] = bc_kinds[:, a, s]
    out[:, :, 2] = depth
    return out


def chunk_loop(ir, stepper: str):
    """The compiled ``euler`` or ``rk4`` loop of the map kernel ``ir`` with :func:`fill_chunk`,
    built once per process (through the disk cache)."""
    from nedsym.codegen.loops import make_euler_loop, make_rk4_loop

    key = f"{ir.name}:{stepper}"
    if key not in _LOOPS:
        make = make_euler_loop if stepper == "euler" else make_rk4_loop
        _LOOPS[key] = make(ir, fill=fill_chunk, check=False)
    return _LOOPS[key]
