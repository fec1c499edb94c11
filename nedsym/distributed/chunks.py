"""Worker side of a chunked grid run: advance one padded chunk by several time steps.

A chunk of the state (``(nfields, *n)`` cells) arrives with ``depth`` layers of its
neighbours' cells on its internal and periodic sides (dask's overlap, periodic wrap included)
and nothing on the *physical* sides of a non-periodic axis (``boundary="none"``). It is copied
into an array padded by ``depth`` on every side, whose physical-side ghosts are refilled before
every kernel call by the even/odd reflection of :mod:`nedsym.codegen.halo` (same
arithmetic, same axis order, so the values are those of the single-grid run).

Communication-avoiding steps: the generated kernel (stencil radius ``r``) is evaluated on the
whole padded chunk, so after one stage the outermost ``r`` layers are stale, after two ``2r``,
... A step of an ``s``-stage method uses ``s`` stages; with ``depth = k*s*r`` the chunk
interior is still exact after ``k`` steps. The steppers repeat the floating-point operations of
:mod:`nedsym.solve.steppers` in the same order, so a chunked run equals the single run.

No dask import here: these functions run inside the workers.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nedsym.codegen.halo import SPEC, fill_side_numpy
from nedsym.codegen.tableau import TABLEAUX
from nedsym.errors import BlowUpError, DistributedError

__all__ = ["ChunkProgram", "STAGES"]

#: stages (right-hand-side evaluations) per step of the chunkable steppers
STAGES = {name: TABLEAUX[name].stages for name in ("euler", "rk4")}
_KERNELS: dict[str, Any] = {}


@dataclass(frozen=True, eq=False)
class ChunkProgram:
    """What a worker needs to run the generated kernels on a chunk (small and picklable).

    Attributes
    ----------
    rhs, energy: ``(name, source)`` of the generated map / reduce kernels.
    backend, dtype: the printer options they were generated with (the cache key).
    ndim, nfields, radius: spatial axes, fields, stencil radius (the kernels' halo).
    stepper: ``"euler"`` or ``"rk4"``.
    rhs_scalars, energy_scalars: the kernels' scalar argument names, in order.
    values: base value of every scalar except ``t`` and ``lo<k>`` (by name).
    lo, spacing, shape: grid geometry; periodic: per axis.
    bc_kinds, bc_values: halo kinds/values per field, axis and side (``BoundaryData``).
    dV: cell volume.
    loop_ir: the map kernel's IR when chunks run the generated fused time loops
        (:mod:`nedsym.distributed.chunkloop`); ``None``: the NumPy steppers below.
    share: dask worker threads per machine (the largest over machines); the numba kernels
        of a chunk task use ``cpu_count // share`` threads (:meth:`use_threads`).
    """

    rhs: tuple[str, str]
    energy: tuple[str, str]
    backend: str
    dtype: str
    ndim: int
    nfields: int
    radius: int
    stepper: str
    rhs_scalars: tuple[str, ...]
    energy_scalars: tuple[str, ...]
    values: tuple[tuple[str, float], ...]
    lo: tuple[float, ...]
    spacing: tuple[float, ...]
    shape: tuple[int, ...]
    periodic: tuple[bool, ...]
    bc_kinds: np.ndarray
    bc_values: np.ndarray
    dV: float
    share: int = 1
    loop_ir: Any = None

    @property
    def stages(self) -> int:
        """Right-hand-side evaluations per step."""
        return STAGES[self.stepper]

    @property
    def token(self) -> str:
        """A short hash naming this program in dask keys."""
        h = hashlib.sha1()
        for part in (self.rhs[0], self.energy[0], self.backend, self.dtype, self.stepper,
                     str(self.loop_ir is not None),
                     repr(self.values), repr(self.lo), repr(self.spacing), repr(self.shape),
                     self.bc_kinds.tobytes(), self.bc_values.tobytes()):
            h.update(part if isinstance(part, bytes) else part.encode())
        return h.hexdigest()[:12]

    def __dask_tokenize__(self) -> str:
        return self.token

    # -- kernels (compiled once per worker process, through the disk cache) ---------------
    def kernel(self, which: str):
        """The generated ``rhs`` or ``energy`` function, loaded once per process."""
        name, source = self.rhs if which == "rhs" else self.energy
        key = f"{name}:{self.backend}:{self.dtype}"
        fn = _KERNELS.get(key)
        if fn is None:
            from nedsym.codegen.targets import get_target

            module = get_target(self.backend).load_module(source, name, dtype=self.dtype)
            fn = _KERNELS[key] = getattr(module, name)
        return fn

    def use_threads(self) -> None:
        """Give the numba kernels of this task ``max(1, cpu_count // share)`` threads."""
        if self.backend != "numba":
            return
        import numba

        n = max(1, (os.cpu_count() or 1) // max(1, self.share))
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))

    def scalars(self, names: tuple[str, ...], t: float, lo: tuple[float, ...]) -> list[float]:
        """Kernel scalar arguments for a chunk whose kernel point 0 has lower bounds ``lo``."""
        base = dict(self.values)
        out = []
        for n in names:
            if n == "t":
                out.append(float(t))
            elif n.startswith("lo") and n[2:].isdigit():
                out.append(lo[int(n[2:])])
            else:
                out.append(base[n])
        return out

    # -- geometry -------------------------------------------------------------------------
    def chunk_geometry(self, block_id: tuple[int, ...], chunks: tuple[tuple[int, ...], ...]):
        """``(start, physical)`` of a block: first global cell per axis, and per axis
        whether its ``(lo, hi)`` sides are physical (non-periodic domain boundary)."""
        start, physical = [], []
        for a in range(self.ndim):
            b = block_id[a + 1]
            start.append(int(sum(chunks[a][:b])))
            edge = not self.periodic[a]
            physical.append((edge and b == 0, edge and b == len(chunks[a]) - 1))
        return tuple(start), tuple(physical)

    def kernel_lo(self, start: tuple[int, ...], depth: int) -> tuple[float, ...]:
        """``lo<k>`` for a kernel (halo ``radius``) run on a chunk padded by ``depth``."""
        return tuple(lo + (s - depth + self.radius) * h if s - depth + self.radius else lo
                     for lo, h, s in zip(self.lo, self.spacing, start, strict=True))

    def padded(self, block: np.ndarray, depth: int, physical) -> np.ndarray:
        """A fresh C-contiguous copy of ``block`` padded by ``depth`` on every side (the
        physical sides, which dask left out, get zero ghosts to be filled)."""
        if not any(lo or hi for lo, hi in physical):
            return np.array(block, dtype=np.float64, order="C")
        shape = [block.shape[0]]
        index: list[slice] = [slice(None)]
        for a, (lo, hi) in enumerate(physical):
            m = block.shape[a + 1]
            shape.append(m + depth * (lo + hi))
            index.append(slice(depth * lo, depth * lo + m))
        P = np.zeros(shape)
        P[tuple(index)] = block
        return P

    def fill_physical(self, P: np.ndarray, depth: int, physical) -> None:
        """Refill the ghost layers of the physical sides of ``P`` (axis by axis, in place)."""
        for a in range(self.ndim):
            if not any(physical[a]):
                continue
            for side in (0, 1):
                if not physical[a][side]:
                    continue
                for f in range(self.nfields):
                    kind = int(self.bc_kinds[f, a, side])
                    if SPEC.rule(kind).source != "wrap":     # wrap sides are exchanged
                        fill_side_numpy(P[f], depth, a, side, kind, self.bc_values[f, a, side])


def _inner(ndim: int, width: int) -> tuple:
    return (slice(None),) + (slice(width, -width or None),) * ndim


# -- block functions (called by dask.array.map_blocks inside the workers) ------------------

def advance_block(block: np.ndarray, program: ChunkProgram, steps: tuple[tuple[float, float], ...],
                  depth: int, grid_chunks, block_id=None) -> np.ndarray:
    """Advance one padded chunk by ``steps`` (``(t, dt)`` per step); return its interior.

    ``depth`` must be at least ``len(steps) * stages * radius``.
    """
    p = program
    p.use_threads()
    start, physical = p.chunk_geometry(block_id, grid_chunks)
    P = p.padded(block, depth, physical)                     # a copy: dask's block stays
    lo = p.kernel_lo(start, depth)
    rhs = p.kernel("rhs")
    r = p.radius
    inner = _inner(p.ndim, r)
    kshape = (p.nfields, *[m - 2 * r for m in P.shape[1:]])

    def F(state, t, out):
        p.fill_physical(state, depth, physical)
        rhs(state, out, *p.scalars(p.rhs_scalars, t, lo))

    with np.errstate(all="ignore"):      # stale outer layers may overflow; they are discarded
        if p.loop_ir is not None:
            _run_loop(p, P, steps, depth, physical, lo)
        else:      # the operations of nedsym.solve.steppers.ExplicitRK, in the same order
            tab = TABLEAUX[p.stepper]
            k = np.empty((tab.stages, *kshape))
            scratch = np.empty(kshape)
            Y = np.empty_like(P)
            for t, dt in steps:
                F(P, t, k[0])
                for i in range(1, tab.stages):
                    Y[...] = P
                    for j, a in enumerate(tab.A[i]):
                        if a:
                            np.multiply(k[j], a * dt, out=scratch)
                            Y[inner] += scratch
                    F(Y, t + tab.c[i] * dt, k[i])
                for i, w in enumerate(tab.b):
                    if w:
                        np.multiply(k[i], w * dt, out=scratch)
                        P[inner] += scratch
    out = P[_inner(p.ndim, depth)]          # a view: no copy (dask slices it for the halos)
    if not np.isfinite(out).all():
        t_last, dt_last = steps[-1]
        raise BlowUpError(
            f"the state became NaN/Inf in chunk {tuple(block_id[1:])} between t={steps[0][0]:.6g}"
            f" and t={t_last + dt_last:.6g} (dt={dt_last:.3g}); reduce dt (see "
            f"Simulation.stable_dt)")
    return out


def _run_loop(p: ChunkProgram, P: np.ndarray, steps, depth: int, physical, lo) -> None:
    """``steps`` with the generated fused loop, one call per run of equal step sizes."""
    from nedsym.distributed.chunkloop import chunk_kinds, chunk_loop

    loop = chunk_loop(p.loop_ir, p.stepper)
    kinds = chunk_kinds(p.bc_kinds, physical, depth)
    values = np.ascontiguousarray(p.bc_values, dtype=np.float64)
    work = loop.workspace(P)
    i = 0
    while i < len(steps):
        t0, dt = steps[i]
        j = i + 1
        while j < len(steps) and steps[j][1] == dt:
            j += 1
        loop(P, *work, j - i, dt, kinds, values, *p.scalars(p.rhs_scalars, t0, lo))
        i = j


def reductions_block(block: np.ndarray, program: ChunkProgram, t: float, depth: int, grid_chunks,
                     what: tuple[str, ...], block_id=None) -> np.ndarray:
    """Partial sums of one chunk for the reductions in ``what`` (``"energy"``: sum of the
    energy density; ``"residual"``: sum of squares of the right-hand side), shape
    ``(len(what), 1, ..., 1)`` (one entry per block along every spatial axis)."""
    p = program
    p.use_threads()
    r = p.radius
    start, physical = p.chunk_geometry(block_id, grid_chunks)
    P = p.padded(block, depth, physical)
    p.fill_physical(P, depth, physical)
    P = np.ascontiguousarray(P[_inner(p.ndim, depth - r)])     # padded by exactly r
    lo = p.kernel_lo(start, r)
    out = np.zeros((len(what),) + (1,) * p.ndim)
    for i, w in enumerate(what):
        if w == "energy":
            out[i] = p.kernel("energy")(P, *p.scalars(p.energy_scalars, t, lo))
        elif w == "residual":
            F = np.empty((p.nfields, *[m - 2 * r for m in P.shape[1:]]))
            p.kernel("rhs")(P, F, *p.scalars(p.rhs_scalars, t, lo))
            out[i] = float(np.sum(F * F))
        else:
            raise DistributedError(f"unknown reduction {w!r}; use 'energy' or 'residual'")
    return out


def chunk_file(folder: str | os.PathLike, block_id: tuple[int, ...]) -> Path:
    """File of one chunk in a checkpoint folder: ``chunk_<i>_<j>.npz`` (spatial block index)."""
    return Path(folder) / ("chunk_" + "_".join(str(b) for b in block_id[1:]) + ".npz")


def save_block(block: np.ndarray, folder: str, block_id=None) -> np.ndarray:
    """Write one chunk to its ``.npz`` in ``folder`` (atomically); return a count of 1."""
    path = chunk_file(folder, block_id)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, y=block, block=np.array(block_id[1:]))
    os.replace(tmp, path)
    return np.ones((1,) * block.ndim)


def load_block(folder: str, nfields: int, block_chunks, block_id=None) -> np.ndarray:
    """Read one chunk written by :func:`save_block`, checking its block index and shape."""
    path = chunk_file(folder, block_id)
    if not path.exists():
        raise DistributedError(f"checkpoint chunk {str(path)!r} is missing")
    with np.load(path) as z:
        y, idx = z["y"], tuple(int(i) for i in z["block"])
    shape = (nfields, *[block_chunks[a][b] for a, b in enumerate(block_id[1:])])
    if idx != tuple(block_id[1:]) or y.shape != shape:
        raise DistributedError(f"checkpoint chunk {str(path)!r} holds block {idx} of shape "
                               f"{y.shape}; expected block {tuple(block_id[1:])}, shape {shape}")
    return y
