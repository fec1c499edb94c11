r"""How many time steps to fuse per halo exchange: a three-constant cost model.

One exchange round advances every chunk by :math:`k` steps of an :math:`s`-stage method with
a stencil of radius :math:`r`, so the halo is :math:`H = k s r` layers deep. On a chunk of
:math:`n_1 \times \dots \times n_d` cells with :math:`m` fields, a worker holding :math:`b`
chunks spends per round

.. math::

    T(k) = L + b\,\beta\,8m\Big(\prod_a (n_a + 2H) - \prod_a n_a\Big)
             + b\,c\,\delta\, m \prod_a (n_a + 2H)
             + b\,\gamma\, k\, s\, m \prod_a (n_a + 2H - 2r),

with :math:`L` the latency of one round (scheduler, task dispatch, small messages),
:math:`\beta` seconds per halo byte moved, :math:`\delta` seconds per cell to copy a chunk
(:math:`c = 3` copies per round: dask's overlap concatenates the halo onto the chunk, a periodic
axis held by one chunk is wrapped by another concatenation, and the worker copies the result
into its work array) and :math:`\gamma` seconds per cell per stage of the generated kernel
and the stepper's update (the last term counts the redundant work on the halo). The model picks the
:math:`k \le k_{max}` (halo no deeper than the smallest chunk) that minimizes the time per
step :math:`T(k)/k`: large :math:`k` amortizes :math:`L`, small :math:`k` avoids recomputing
the halo. The constants are measured on the cluster in use (:func:`measure_costs`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from nedsym.errors import DistributedError

__all__ = ["CostModel", "choose_fuse", "measure_costs"]

_MEASURED: dict[str, tuple[float, float]] = {}
#: full copies of a chunk per exchange round (see the module docstring)
COPIES_PER_ROUND = 3


@dataclass(frozen=True)
class CostModel:
    """Measured constants of one cluster and kernel (see the module docstring).

    Attributes
    ----------
    latency: seconds per exchange round with negligible data (:math:`L`).
    seconds_per_byte: halo transfer cost (:math:`\\beta`).
    seconds_per_cell: one kernel stage on one cell, on one worker (:math:`\\gamma`).

    Example
    -------
    >>> m = CostModel(latency=0.02, seconds_per_byte=1e-9, seconds_per_cell=2e-8)
    >>> m.best_fuse((1024, 1024), nfields=1, radius=1, stages=1, max_fuse=64)
    15
    """

    latency: float
    seconds_per_byte: float
    seconds_per_cell: float
    seconds_per_copy: float = 0.0

    def round_time(self, chunk: tuple[int, ...], nfields: int, radius: int, stages: int,
                   k: int, chunks_per_worker: int = 1) -> float:
        """Predicted seconds of one round of ``k`` fused steps (:math:`T(k)`)."""
        H = k * stages * radius
        core = math.prod(chunk)
        padded = math.prod(n + 2 * H for n in chunk)
        work = math.prod(n + 2 * H - 2 * radius for n in chunk)
        halo_bytes = 8 * nfields * (padded - core)
        return self.latency + chunks_per_worker * (
            self.seconds_per_byte * halo_bytes
            + COPIES_PER_ROUND * self.seconds_per_copy * nfields * padded
            + self.seconds_per_cell * k * stages * nfields * work)

    def step_time(self, chunk, nfields, radius, stages, k, chunks_per_worker=1) -> float:
        """Predicted seconds per time step with ``k`` fused steps (:math:`T(k)/k`)."""
        return self.round_time(chunk, nfields, radius, stages, k, chunks_per_worker) / k

    def best_fuse(self, chunk, nfields, radius, stages, max_fuse, chunks_per_worker=1) -> int:
        """The ``k`` in ``1..max_fuse`` with the smallest predicted time per step."""
        ks = range(1, max(1, int(max_fuse)) + 1)
        return min(ks, key=lambda k: self.step_time(chunk, nfields, radius, stages, k,
                                                    chunks_per_worker))


def choose_fuse(model: CostModel, chunks: tuple[tuple[int, ...], ...], nfields: int,
                radius: int, stages: int, n_workers: int) -> int:
    """Fused steps per exchange for the chunking ``chunks`` (per spatial axis) under ``model``.

    The largest chunk sets the compute time; the smallest chunk bounds the halo depth.
    """
    kmax = max_fuse(chunks, radius, stages)
    chunk = tuple(max(c) for c in chunks)
    nblocks = math.prod(len(c) for c in chunks)
    per_worker = -(-nblocks // max(1, n_workers))
    return model.best_fuse(chunk, nfields, radius, stages, kmax, per_worker)


def max_fuse(chunks: tuple[tuple[int, ...], ...], radius: int, stages: int) -> int:
    """Largest ``k`` whose halo ``k*stages*radius`` fits in the smallest chunk."""
    smallest = min(min(c) for c in chunks)
    k = smallest // (stages * radius)
    if k < 1:
        raise DistributedError(
            f"the smallest chunk has {smallest} cells but one step needs a halo of "
            f"{stages * radius} (stencil radius {radius} x {stages} stages): use larger chunks")
    return k


def _trim(block: np.ndarray) -> np.ndarray:
    return block[1:-1]


def _scheduler_costs(client: Any, nblocks: int, rounds: int = 4) -> tuple[float, float]:
    """(latency per round, seconds per byte), measured once per scheduler and block count.

    Rounds are submitted ``rounds`` at a time, as the solver submits them."""
    import dask.array as da
    from distributed import wait

    key = f"{client.scheduler.address}:{nblocks}"
    if key in _MEASURED:
        return _MEASURED[key]
    x = client.persist(da.zeros((nblocks * 8, 8), chunks=(8, 8)))
    wait(x)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(rounds):
            y = da.overlap.overlap(x, depth={0: 1, 1: 0}, boundary={0: "periodic", 1: "none"})
            x = y.map_blocks(_trim, chunks=x.chunks, dtype=float)
        x = client.persist(x)
        wait(x)
        times.append((time.perf_counter() - t0) / rounds)
    latency = float(np.median(times[1:]))
    nbytes = 2**21
    fut = client.submit(np.ones, nbytes // 8, pure=False)
    wait(fut)
    t0 = time.perf_counter()
    fut.result()
    per_byte = max((time.perf_counter() - t0) / nbytes, 1e-11)
    _MEASURED[key] = (latency, per_byte)
    return latency, per_byte


def _kernel_costs(program, chunk: tuple[int, ...]) -> tuple[float, float]:
    """(seconds per cell of one stage: kernel + update, seconds per cell of a copy), timed on
    a chunk-sized array (at most 2**22 cells) where this runs (a worker)."""
    program.use_threads()
    cells = min(math.prod(chunk), 2**22)
    side = max(2 * program.radius + 1, round(cells ** (1 / program.ndim)))
    shape = (program.nfields, *[side + 2 * program.radius] * program.ndim)
    P = np.random.default_rng(0).uniform(0.5, 1.5, shape)
    out = np.empty((program.nfields, *[side] * program.ndim))
    inner = (slice(None),) + (slice(program.radius, -program.radius),) * program.ndim
    args = program.scalars(program.rhs_scalars, 0.0, program.lo)
    if program.loop_ir is not None:            # the generated fused loop, one step
        from nedsym.distributed.chunkloop import chunk_kinds, chunk_loop

        loop = chunk_loop(program.loop_ir, program.stepper)
        kinds = chunk_kinds(program.bc_kinds, ((False, False),) * program.ndim,
                            program.radius)
        values = np.ascontiguousarray(program.bc_values, dtype=np.float64)
        work = loop.workspace(P)

        def one_stage():
            loop(P, *work, 1, 1e-9, kinds, values, *args)
        stages = program.stages
    else:                                      # kernel + NumPy update
        rhs = program.kernel("rhs")

        def one_stage():
            rhs(P, out, *args)
            np.multiply(out, 1e-9, out=out)
            P[inner] += out
        stages = 1
    one_stage()
    stage = copy = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        one_stage()
        t1 = time.perf_counter()
        np.array(P)
        t2 = time.perf_counter()
        stage, copy = min(stage, (t1 - t0) / stages), min(copy, t2 - t1)
    n_cells = program.nfields * side**program.ndim
    return stage / n_cells, copy / P.size


def measure_costs(client: Any, program, chunks: tuple[tuple[int, ...], ...]) -> CostModel:
    """Measure :math:`L, \\beta` on ``client``'s cluster and :math:`\\gamma, \\delta` on one
    worker."""
    nblocks = math.prod(len(c) for c in chunks)
    latency, per_byte = _scheduler_costs(client, nblocks)
    chunk = tuple(max(c) for c in chunks)
    per_cell, per_copy = client.submit(_kernel_costs, program, chunk, pure=False).result()
    return CostModel(latency, per_byte, per_cell, per_copy)
