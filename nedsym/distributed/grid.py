"""Grid solves on a Dask cluster: the state is a ``dask.array`` split into chunks.

Each exchange round gives every chunk a halo of ``k * stages * radius`` layers with
``dask.array.overlap`` (the mechanism of ``map_overlap``; periodic axes wrap), then every
chunk runs ``k`` explicit steps of the generated kernel where it lives
(:func:`nedsym.distributed.chunks.advance_block`) and the new chunks stay on the workers
(``persist``). Energy and residual are Dask reductions of per-chunk partial sums computed from
the same halo, so they cost no extra exchange; only scalars travel to the client.
The time grid (step sizes, steps shortened onto snapshot times and ``t_end``) is the one of
:func:`nedsym.solve.integrate`, so the result equals the single-machine run.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nedsym.distributed.chunks import STAGES, ChunkProgram, advance_block, reductions_block
from nedsym.distributed.cluster import connect, worker_count
from nedsym.distributed.cost import choose_fuse, max_fuse, measure_costs
from nedsym.errors import DiscretizationError, DistributedError, NedsymError
from nedsym.solve.result import Result

__all__ = ["solve", "program_for", "normalize_chunks"]

_CPU_BACKENDS = ("numba", "numpy")
#: exchange rounds submitted as one graph between two waits of the client
ROUNDS_PER_SUBMIT = 8


def program_for(sim, stepper: str, share: int = 1, compiled: bool = True) -> ChunkProgram:
    """The :class:`ChunkProgram` of a :class:`~nedsym.methods.grid.Simulation` and a stepper
    (``share``: dask worker threads per machine, see :meth:`ChunkProgram.use_threads`;
    ``compiled``: run the generated fused time loops on numba backends)."""
    from nedsym.codegen import compile_kernel

    if stepper in ("semi-implicit", "stabilized", "sav", "sav2", "sav-adaptive",
                   "sav2-adaptive", "convex-split", "eyre"):
        raise DistributedError(
            f"stepper {stepper!r} solves its linear part with global FFTs (or DCT/DST), "
            "which cannot be chunked; with cluster= use an explicit stepper: 'euler' or "
            "'rk4' (with a smaller dt, see Simulation.stable_dt)")
    if stepper in ("rk45", "dopri5", "rk23", "bs32"):
        raise DistributedError(
            f"adaptive stepper {stepper!r} needs a global error norm every step; with "
            "cluster= use a fixed-step 'euler' or 'rk4' with dt=")
    if stepper not in STAGES:
        raise DistributedError(f"unknown stepper {stepper!r} for a distributed run; use one "
                               f"of {sorted(STAGES)}")
    if sim.backend not in _CPU_BACKENDS:
        raise DistributedError(f"distributed runs use CPU kernels; backend {sim.backend!r} is "
                               f"not supported (use one of {list(_CPU_BACKENDS)})")
    if sim.lowered.uses_mean:
        raise DistributedError(
            "this flow uses a spatial mean (e.g. the mass-conserving L2 metric): every stage "
            "would need a global reduction; run it without cluster=, or use metric='H-1'")
    if sim.boundary.varying:
        raise DistributedError("boundary data that depend on space or time are not supported "
                               "in distributed runs; use constant boundary values")
    rhs = compile_kernel(sim.kernel_ir, sim.backend, check=False)
    en = compile_kernel(sim.energy_ir, sim.backend, check=False)
    names = tuple(sim.kernel_ir.scalars)
    values = dict(zip(names, sim.scalars(0.0), strict=True))
    grid = sim.grid
    return ChunkProgram(
        rhs=(rhs.ir.name, rhs.source()), energy=(en.ir.name, en.source()),
        backend=sim.backend, dtype=rhs.dtype, ndim=grid.ndim, nfields=len(sim.fields),
        radius=int(sim.kernel_ir.halo), stepper=stepper, rhs_scalars=names,
        energy_scalars=tuple(sim.energy_ir.scalars),
        values=tuple((k, float(v)) for k, v in values.items() if k != "t"),
        lo=tuple(float(b[0]) for b in grid.bounds), spacing=tuple(grid.spacing),
        shape=tuple(grid.shape), periodic=tuple(grid.periodic),
        bc_kinds=np.array(sim.boundary.kinds), bc_values=np.array(sim.boundary.values),
        dV=float(grid.dV), share=int(share),
        loop_ir=sim.kernel_ir if compiled and sim.backend == "numba" else None)


def normalize_chunks(chunks: Any, shape: tuple[int, ...], n_workers: int,
                     ) -> tuple[tuple[int, ...], ...]:
    """Chunk sizes per spatial axis from ``chunks``.

    ``None``: axis 0 cut into ``n_workers`` near-equal slabs; an int: that size on every
    axis; a tuple with one entry per axis, each an int (block size, the last block takes the
    rest), ``-1`` (whole axis) or a tuple of block sizes summing to the axis length.

    Example
    -------
    >>> normalize_chunks(((3, 5), -1), (8, 4), 2)
    ((3, 5), (4,))
    """
    ndim = len(shape)
    if chunks is None:
        parts = max(1, min(n_workers, shape[0]))
        spec: list[Any] = [_split(shape[0], parts)] + [-1] * (ndim - 1)
    elif isinstance(chunks, (int, np.integer)):
        spec = [int(chunks)] * ndim
    else:
        spec = list(chunks)
    if len(spec) != ndim:
        raise DistributedError(f"chunks={chunks!r} gives {len(spec)} axes; the grid has {ndim}")
    out = []
    for a, (c, n) in enumerate(zip(spec, shape, strict=True)):
        if isinstance(c, (int, np.integer)):
            c = n if c == -1 else int(c)
            if c < 1:
                raise DistributedError(f"chunks on axis {a} must be positive, got {c}")
            sizes = [c] * (n // c) + ([n % c] if n % c else [])
        else:
            sizes = [int(v) for v in c]
        if sum(sizes) != n or min(sizes) < 1:
            raise DistributedError(f"chunks on axis {a} are {tuple(sizes)}: they must be "
                                   f"positive and sum to the axis length {n}")
        out.append(tuple(sizes))
    return tuple(out)


def _split(n: int, parts: int) -> tuple[int, ...]:
    return tuple(n // parts + (1 if i < n % parts else 0) for i in range(parts))


class _Clock:
    """The time grid of :func:`nedsym.solve.integrate` (fixed ``dt``, steps shortened onto
    stop times), cut into rounds."""

    def __init__(self, t_end: float, dt: float, stops: Sequence[float], max_steps: int | None):
        self.t_end, self.dt, self.stops, self.max_steps = t_end, dt, stops, max_steps

    def done(self, t: float, step: int) -> bool:
        return t >= self.t_end or (self.max_steps is not None and step >= self.max_steps)

    def round(self, t: float, step: int, limit: int, boundary: Callable[[int], bool]):
        """Up to ``limit`` steps from ``(t, step)``; a round also ends on a stop time and where
        ``boundary(step)`` is true. Returns ``(steps, t_after, at_stop)``."""
        steps: list[tuple[float, float]] = []
        at_stop = False
        while len(steps) < limit and not self.done(t, step):
            next_stop = next(s for s in self.stops if s > t)
            dt_try = self.dt
            clipped = t + dt_try >= next_stop - 1e-8 * dt_try
            if clipped:
                dt_try = next_stop - t
            steps.append((t, dt_try))
            t = next_stop if clipped else t + dt_try
            step += 1
            if clipped:
                at_stop = True
                break
            if boundary(step):
                break
        return steps, t, at_stop


def _overlap(x, depth: int, periodic: tuple[bool, ...]):
    import dask.array as da

    ndim = len(periodic)
    return da.overlap.overlap(
        x, depth={0: 0, **{a + 1: depth for a in range(ndim)}},
        boundary={0: "none", **{a + 1: ("periodic" if p else "none")
                               for a, p in enumerate(periodic)}},
        allow_rechunk=False)


def _from_numpy(client, y: np.ndarray, chunks):
    """Scatter the blocks of ``y`` to the workers; a dask array over them."""
    import dask.array as da

    edges = [np.cumsum((0,) + c) for c in chunks]
    index = list(np.ndindex(*[len(c) for c in chunks]))
    blocks = [np.ascontiguousarray(y[(slice(None),) + tuple(
        slice(edges[a][b], edges[a][b + 1]) for a, b in enumerate(ix))]) for ix in index]
    futures = client.scatter(blocks)
    grid = np.empty([len(c) for c in chunks], dtype=object)
    for ix, fut, blk in zip(index, futures, blocks, strict=True):
        grid[ix] = da.from_delayed(fut, shape=blk.shape, dtype=np.float64)
    return da.block(grid.tolist())


def threads_per_host(client) -> int:
    """The largest number of dask worker threads on one machine of the cluster."""
    per_host: dict[str, int] = {}
    for w in client.scheduler_info().get("workers", {}).values():
        host = w.get("host", "?")
        per_host[host] = per_host.get(host, 0) + int(w.get("nthreads", 1))
    return max(per_host.values(), default=1)


def _check_futures(client, collections) -> None:
    """Raise the first error of the futures behind ``collections`` (after waiting)."""
    from distributed import futures_of, wait

    futs = [f for c in collections for f in futures_of(c)]
    wait(futs)
    for f in futs:
        if f.status == "error":
            raise f.exception()
        if f.status != "finished":
            raise _LostChunk(f"a chunk was lost ({f.status}): {f.key}")


class _LostChunk(RuntimeError):
    """A chunk's future was cancelled or lost with its worker (recoverable from a checkpoint)."""


class _History:
    """Histories recorded on the client; energies arrive as small futures."""

    def __init__(self) -> None:
        self.energy_times: list[float] = []
        self.energy: list[Any] = []          # floats or pending 0-d dask arrays
        self.residual_times: list[float] = []
        self.residual: list[Any] = []
        self.snap_times: list[float] = []
        self.snaps: list[np.ndarray] = []
        self.dt_history: list[float] = []

    def resolve(self, client, program: ChunkProgram) -> None:
        pending = [v for v in self.energy + self.residual if not isinstance(v, float)]
        if pending:
            values = dict(zip([id(p) for p in pending],
                              client.gather(client.compute(pending)), strict=True))
            self.energy = [v if isinstance(v, float) else float(values[id(v)]) * program.dV
                           for v in self.energy]
            self.residual = [v if isinstance(v, float) else math.sqrt(
                float(values[id(v)]) / (program.nfields * math.prod(program.shape)))
                for v in self.residual]

    def as_dict(self) -> dict[str, np.ndarray]:
        return {"energy_times": np.array(self.energy_times, float),
                "energy": np.array(self.energy, float),
                "residual_times": np.array(self.residual_times, float),
                "residual": np.array(self.residual, float),
                "snap_times": np.array(self.snap_times, float),
                "snaps": np.array(self.snaps) if self.snaps else np.zeros(0),
                "dt_history": np.array(self.dt_history, float)}

    @classmethod
    def from_dict(cls, d: dict[str, np.ndarray]) -> _History:
        h = cls()
        h.energy_times, h.energy = d["energy_times"].tolist(), d["energy"].tolist()
        h.residual_times, h.residual = d["residual_times"].tolist(), d["residual"].tolist()
        h.snap_times = d["snap_times"].tolist()
        h.snaps = [np.array(s) for s in d["snaps"]] if len(h.snap_times) else []
        h.dt_history = d["dt_history"].tolist()
        return h


_OPTIONS = ("chunks", "fuse", "compiled", "snapshot_times", "energy", "energy_every", "residual",
            "max_steps", "checkpoint", "checkpoint_every", "checkpoint_seconds", "resume",
            "progress", "callback", "gather", "max_recoveries", "on_interrupt")


def solve(sim, y0: np.ndarray, t_end: float, *, cluster: Any, stepper: str = "rk4",
          dt: float | None = None, chunks: Any = None, fuse: int | str = "auto",
          compiled: bool = True, snapshot_times: Sequence[float] | None = None,
          energy: bool | None = True, energy_every: int | None = None, residual: bool = False,
          max_steps: int | None = None, checkpoint: str | None = None,
          checkpoint_every: int | None = None, checkpoint_seconds: float | None = None,
          resume: str | None = None, progress: bool | None = None,
          callback: Callable[[dict], None] | None = None, gather: bool = True,
          max_recoveries: int = 3, on_interrupt: str = "return", **unsupported) -> Result:
    """Integrate ``sim`` from ``y0`` to ``t_end`` on a Dask cluster (``sim.solve(...,
    cluster=...)`` calls this).

    Parameters
    ----------
    cluster: a ``distributed.Client``, a scheduler address or ``"local[N]"``.
    stepper, dt: ``"euler"`` or ``"rk4"`` with a fixed step (default as ``sim.solve``).
    chunks: chunking of the spatial axes (see :func:`normalize_chunks`); default: one slab
        of axis 0 per worker.
    fuse: time steps per halo exchange, an int or ``"auto"`` (the cost model of
        :mod:`nedsym.distributed.cost` with constants measured on this cluster).
    compiled: chunks run the generated fused Euler/RK4 loops (numba backend; agree with the
        single run to rounding, ~1e-16 per step). ``False``: the NumPy steppers of
        :mod:`nedsym.solve.steppers`, operation for operation, so the fields equal the single
        run bit for bit (slower).
    snapshot_times: states gathered to the client (default: start and end).
    energy: record the discrete energy (a Dask reduction) at the start, after every
        round (or every ``energy_every`` steps, which then also ends rounds) and at the end.
    residual: also record the RMS of the right-hand side at the same times.
    checkpoint: a folder for chunk-wise checkpoints (written at the start, every
        ``checkpoint_every`` steps / ``checkpoint_seconds`` seconds, on Ctrl-C and at the
        end); a lost worker then costs only the steps since the last one.
    resume: a checkpoint folder to continue from (same arguments otherwise).
    callback: ``callback(info)`` after every round; ``info`` has ``round, step, t, fuse,
        client``.
    gather: return the final state as a NumPy array (default) or, if False, as the
        persisted dask array (it lives on the cluster while the client is open).
    max_recoveries: lost-worker failures survived by resuming from the checkpoint.

    Returns
    -------
    A :class:`~nedsym.solve.Result` whose ``diagnostics`` add ``fuse``, ``rounds``,
    ``chunks``, ``workers``, ``recoveries`` and (with ``fuse="auto"``) ``cost_model``.
    """
    if unsupported:
        raise DistributedError(f"option(s) {sorted(unsupported)} are not supported with "
                               f"cluster=; supported: {list(_OPTIONS)}")
    if on_interrupt not in ("return", "raise"):
        raise DistributedError(f"on_interrupt must be 'return' or 'raise', got {on_interrupt!r}")
    if callable(energy):
        raise DistributedError("with cluster=, energy= is True/False: the generated energy "
                               "kernel runs as a Dask reduction (custom callables would need "
                               "the whole state on the client)")
    wall0 = time.perf_counter()
    y0 = np.asarray(y0, dtype=np.float64)
    if y0.shape != (len(sim.fields), *sim.grid.shape):
        raise DiscretizationError(
            f"initial state has shape {y0.shape}; expected "
            f"{(len(sim.fields), *sim.grid.shape)} (fields {list(sim.fields)})")
    if t_end is None or not np.isfinite(t_end) or t_end < 0:
        raise DistributedError(f"need a finite t_end >= 0, got {t_end!r}")
    program = program_for(sim, stepper, compiled=bool(compiled))
    if dt is None:
        dt = sim.stable_dt(0.0, y0) * (1.0 if stepper == "euler" else 1.4)
    dt = float(dt)
    if not dt > 0:
        raise DistributedError(f"dt must be positive, got {dt!r}")
    stops = sorted({float(t_end), *[float(s) for s in (snapshot_times or ())]})
    if stops[0] < 0:
        raise DistributedError(f"snapshot times {stops} lie outside [0, {t_end}]")
    with connect(cluster) as client:
        program = dataclasses.replace(program, share=threads_per_host(client))
        run = _Run(client, sim, program, y0, float(t_end), dt, stops, locals())
        return run.execute(wall0)


class _Run:
    """One distributed integration (state on the cluster, clock and histories here)."""

    def __init__(self, client, sim, program: ChunkProgram, y0, t_end, dt, stops, opts):
        self.client, self.sim, self.p, self.y0 = client, sim, program, y0
        self.opts = opts
        self.clock = _Clock(t_end, dt, stops, opts["max_steps"])
        self.workers = worker_count(client)
        self.chunks = normalize_chunks(opts["chunks"], sim.grid.shape, self.workers)
        self.kmax = max_fuse(self.chunks, program.radius, program.stages)
        self.tag = uuid.uuid4().hex[:8]
        self.snapshot_request = opts["snapshot_times"]
        self.what = tuple(w for w, on in (("energy", opts["energy"] not in (None, False)),
                                          ("residual", bool(opts["residual"]))) if on)
        self.energy_every = opts["energy_every"]
        self.ckpt = opts["checkpoint"]
        self.ckpt_every = opts["checkpoint_every"]
        self.recoveries = 0
        self.rounds = 0
        self.cost_model = None

    # -- pieces -------------------------------------------------------------------------
    def _fuse(self) -> int:
        fuse = self.opts["fuse"]
        if fuse == "auto":
            self.cost_model = measure_costs(self.client, self.p, self.chunks)
            return choose_fuse(self.cost_model, self.chunks, self.p.nfields, self.p.radius,
                               self.p.stages, self.workers)
        if isinstance(fuse, bool) or not isinstance(fuse, (int, np.integer)) or fuse < 1:
            raise DistributedError(f"fuse must be a positive int or 'auto', got {fuse!r}")
        if fuse > self.kmax:
            raise DistributedError(
                f"fuse={fuse} needs a halo of {fuse * self.p.stages * self.p.radius} cells but "
                f"the smallest chunk has {min(min(c) for c in self.chunks)}: use fuse <= "
                f"{self.kmax} or larger chunks")
        return int(fuse)

    def _boundary(self, step: int) -> bool:
        e, c = self.energy_every, self.ckpt_every
        return bool((e and step % e == 0) or (self.ckpt and c and step % c == 0))

    def _record_due(self, step: int) -> bool:
        return bool(self.what) and (not self.energy_every or step % self.energy_every == 0)

    def _reductions(self, ov, t: float, depth: int):
        import dask.array as da

        p = self.p
        parts = da.map_blocks(
            reductions_block, ov, program=p, t=t, depth=depth, grid_chunks=self.chunks,
            what=self.what, dtype=float, meta=np.empty((0,) * (p.ndim + 1)),
            chunks=((len(self.what),),) + tuple((1,) * len(c) for c in self.chunks),
            name=f"nedsym-reduce-{self.tag}-{self.rounds}-{t!r}")
        return parts.sum(axis=tuple(range(1, p.ndim + 1)))

    def _record(self, totals, t: float) -> None:
        """Append a record at time ``t``: entry ``i`` of ``totals`` per reduction (``None``:
        a placeholder filled by :meth:`_set_record`)."""
        for i, w in enumerate(self.what):
            times, values = self._series(w)
            times.append(t)
            values.append(None if totals is None else totals[i])

    def _set_record(self, t: float, totals) -> None:
        for i, w in enumerate(self.what):
            times, values = self._series(w)
            values[len(times) - 1 - times[::-1].index(t)] = totals[i]

    def _series(self, what: str) -> tuple[list, list]:
        return ((self.h.energy_times, self.h.energy) if what == "energy"
                else (self.h.residual_times, self.h.residual))

    def _gather(self, x) -> np.ndarray:
        return np.asarray(self.client.compute(x).result())

    def _snapshot_due(self, t: float) -> bool:
        req = self.snapshot_request
        return req is not None and any(float(s) == t for s in req) and t not in self.h.snap_times

    def _write_checkpoint(self, x, t: float, step: int) -> None:
        from nedsym.distributed.checkpoint import write_checkpoint

        self.h.resolve(self.client, self.p)
        hist = self.h.as_dict()
        hist.update(t=np.float64(t), step=np.int64(step), dt=np.float64(self.clock.dt))
        write_checkpoint(self.client, x, self.ckpt, step, hist)
        self.last_ckpt_time = time.perf_counter()

    def _load_checkpoint(self, path):
        from nedsym.distributed.checkpoint import read_checkpoint

        x, hist = read_checkpoint(path, self.p.nfields, self.p.shape)
        if tuple(tuple(c) for c in x.chunks[1:]) != self.chunks:
            self.chunks = tuple(tuple(c) for c in x.chunks[1:])
            self.kmax = max_fuse(self.chunks, self.p.radius, self.p.stages)
            self.k = min(self.k, self.kmax)
        if float(hist["dt"]) != self.clock.dt:
            raise DistributedError(f"checkpoint {path!r} was written with dt={float(hist['dt'])}"
                                   f"; this run has dt={self.clock.dt}")
        self.h = _History.from_dict(hist)
        x = self.client.persist(x)
        _check_futures(self.client, [x])
        return x, float(hist["t"]), int(hist["step"])

    # -- the loop -------------------------------------------------------------------------
    def execute(self, wall0: float) -> Result:
        from nedsym.solve.trackers import ProgressTracker, RunState

        opts, p, client = self.opts, self.p, self.client
        self.h = _History()
        resumed = opts["resume"] is not None
        self.k = 1
        if resumed:
            x, t, step = self._load_checkpoint(opts["resume"])
        self.k = self._fuse()
        if not resumed:
            x = client.persist(_from_numpy(client, self.y0, self.chunks))
            t, step = 0.0, 0
            if self.snapshot_request is None or self._snapshot_due(t):
                self.h.snap_times.append(t)
                self.h.snaps.append(self.y0.copy())
            if self.ckpt:
                self._write_checkpoint(x, t, step)
        self.last_ckpt_time = time.perf_counter()
        show = opts["progress"]
        import sys
        show = sys.stderr.isatty() if show is None else bool(show)
        bar = ProgressTracker(show)
        state = RunState(t=t, y=None, t0=0.0, t_end=self.clock.t_end, step=step)
        bar.start(state, resumed)
        interrupted, stop_reason = False, "t_end"
        try:
            while not self.clock.done(t, step):
                try:
                    x, t, step = self._batch(x, t, step)
                except (NedsymError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # noqa: BLE001 - a lost worker or connection
                    x, t, step = self._recover(exc)
                    continue
                state.t, state.step, state.dt_last = t, step, self.clock.dt
                bar.handle(state)
                if opts["callback"] is not None:
                    opts["callback"]({"round": self.rounds, "step": step, "t": t,
                                      "fuse": self.k, "client": client})
            if self.clock.max_steps is not None and step >= self.clock.max_steps \
                    and t < self.clock.t_end:
                stop_reason = "max_steps"
            if self.what and not self._recorded(t):
                self._record(self._reductions(_overlap(x, p.radius, p.periodic), t, p.radius),
                             t)
            final = self._gather(x) if opts["gather"] else x
            if self.snapshot_request is None and (not self.h.snap_times
                                                  or self.h.snap_times[-1] != t):
                self.h.snap_times.append(t)
                self.h.snaps.append(final if opts["gather"] else None)
            if self.ckpt:
                self._write_checkpoint(x, t, step)
        except KeyboardInterrupt:
            interrupted, stop_reason = True, "interrupted"
            if self.ckpt:
                self._write_checkpoint(x, t, step)
            if opts["on_interrupt"] == "raise":
                raise
            warnings.warn(f"distributed run interrupted at t={t:.6g} (step {step}); returning "
                          "a partial result", RuntimeWarning, stacklevel=3)
            final = self._gather(x) if opts["gather"] else x
        finally:
            bar.finalize(state)
        self.h.resolve(client, p)
        snaps = [s for s in self.h.snaps if s is not None]
        diagnostics = {
            "steps": step, "rejected_steps": 0, "wall_time": time.perf_counter() - wall0,
            "stepper": p.stepper, "interrupted": interrupted, "stop_reason": stop_reason,
            "t": t, "resumed": resumed, "fuse": self.k, "rounds": self.rounds,
            "chunks": self.chunks, "workers": self.workers, "recoveries": self.recoveries,
        }
        if self.cost_model is not None:
            diagnostics["cost_model"] = vars(self.cost_model)
        return Result(
            fields=np.array(snaps) if snaps else np.zeros((0, *self.y0.shape)),
            times=np.array(self.h.snap_times[:len(snaps)]), final=final,
            energy=np.array(self.h.energy if "energy" in self.what else []),
            energy_times=np.array(self.h.energy_times if "energy" in self.what else []),
            residual=np.array(self.h.residual), residual_times=np.array(self.h.residual_times),
            dt_history=np.array(self.h.dt_history), diagnostics=diagnostics)

    def _batch(self, x, t: float, step: int):
        """Up to ``ROUNDS_PER_SUBMIT`` rounds as one graph (no client round trip between
        rounds), persisted together with their energy/residual totals."""
        import dask.array as da

        p = self.p
        totals = []
        for _ in range(ROUNDS_PER_SUBMIT):
            steps, t_new, at_stop = self.clock.round(t, step, self.k, self._boundary)
            depth = len(steps) * p.stages * p.radius
            ov = _overlap(x, depth, p.periodic)
            if self._record_due(step) and not self._recorded(t):
                totals.append((t, self._reductions(ov, t, depth)))
                self._record(None, t)
            x = da.map_blocks(
                advance_block, ov, program=p, steps=tuple(steps), depth=depth,
                grid_chunks=self.chunks, dtype=float, chunks=x.chunks,
                meta=np.empty((0,) * (p.ndim + 1)),
                name=f"nedsym-step-{self.tag}-{self.rounds}-{step + len(steps)}")
            t, step = t_new, step + len(steps)
            self.rounds += 1
            self.h.dt_history.extend(dt for _, dt in steps)
            if at_stop or self.clock.done(t, step) or self._checkpoint_due(step):
                break
        persisted = self.client.persist([x] + [tot for _, tot in totals])
        _check_futures(self.client, persisted)
        x = persisted[0]
        for (tr, _), tot in zip(totals, persisted[1:], strict=True):
            self._set_record(tr, tot)
        if at_stop and self._snapshot_due(t):
            self.h.snap_times.append(t)
            self.h.snaps.append(self._gather(x))
        if self._checkpoint_due(step):
            self._write_checkpoint(x, t, step)
        return x, t, step

    def _checkpoint_due(self, step: int) -> bool:
        if not self.ckpt:
            return False
        every, seconds = self.ckpt_every, self.opts["checkpoint_seconds"]
        return bool(every and step % every == 0) or (
            seconds is not None and time.perf_counter() - self.last_ckpt_time >= seconds)

    def _recorded(self, t: float) -> bool:
        times = self.h.energy_times if "energy" in self.what else self.h.residual_times
        return bool(times) and times[-1] == t

    def _recover(self, exc: BaseException):
        if not self.ckpt:
            raise DistributedError(
                f"the distributed run failed ({type(exc).__name__}: {exc}) and there is no "
                "checkpoint to resume from; pass checkpoint='folder' to survive lost "
                "workers") from exc
        if self.recoveries >= self.opts["max_recoveries"]:
            raise DistributedError(
                f"the distributed run failed {self.recoveries + 1} times (last: "
                f"{type(exc).__name__}: {exc}); giving up after max_recoveries="
                f"{self.opts['max_recoveries']}") from exc
        self.recoveries += 1
        warnings.warn(f"distributed run: {type(exc).__name__}: {exc}; resuming from the last "
                      f"checkpoint in {self.ckpt!r}", RuntimeWarning, stacklevel=4)
        self.client.wait_for_workers(1, timeout=60)
        return self._load_checkpoint(self.ckpt)
