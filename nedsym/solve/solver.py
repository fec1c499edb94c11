"""The integration controller: steppers + trackers + checkpoints in one loop.

The loop advances in *segments*: trackers say at which step they next need the state
(:meth:`~nedsym.solve.trackers.Tracker.next_step`), snapshots and ``t_end`` give the times
to land on exactly, and a fixed-step stepper advances to the nearest of them in one call of
``stepper.advance`` (for compiled steppers one compiled call of many steps). After every
segment the run checks its health before it commits the new state: the state must be
finite, and with ``monotone_energy`` set, the energy must not rise. A failed check either
retries from the last good state with a smaller step (``dt`` left to the controller) or
raises :class:`~nedsym.errors.BlowUpError` with a step size estimated at the last good state.

Ctrl-C policy: while :func:`integrate` runs (in the main thread) the first SIGINT is *deferred*
to the end of the current step; the loop then stops cleanly, writes a checkpoint (when a
``checkpoint`` path is set) and **returns a partial Result with**
``diagnostics["interrupted"] = True`` (or re-raises ``KeyboardInterrupt`` when
``on_interrupt="raise"``). A second Ctrl-C interrupts immediately. A ``KeyboardInterrupt``
raised inside ``rhs`` is handled the same way: steppers never modify the state before a step
completes, so the checkpoint holds the last completed step.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Sequence

import numpy as np

from nedsym.errors import BlowUpError, SolverError
from nedsym.solve.arrays import namespace, to_host
from nedsym.solve.checkpoint import check_writable, load_checkpoint, restore, save_checkpoint
from nedsym.solve.iteration import deferred_sigint
from nedsym.solve.result import Result
from nedsym.solve.sav import SAV  # noqa: F401 - registers its name
from nedsym.solve.spectral import SemiImplicitSpectral  # noqa: F401 - registers its names
from nedsym.solve.steppers import RHS, STEPPERS, PartialSegment, Stepper
from nedsym.solve.trackers import (
    CheckpointTracker,
    EnergyTracker,
    ProgressTracker,
    ResidualTracker,
    RunState,
    SnapshotTracker,
    Tracker,
)

__all__ = ["integrate", "make_stepper", "stepper_class", "stepper_option_error", "STEPPERS",
           "STEPPER_OPTIONS"]

_ADAPTIVE = ("rk45", "dopri5", "rk23", "bs32", "sav-adaptive", "sav2-adaptive")
_SAV = ("sav", "sav2", "sav-adaptive", "sav2-adaptive")
#: options that belong to some steppers only, and the stepper names they belong to (the one
#: table the grid method and problem files check against)
STEPPER_OPTIONS = {
    "stabilization": ("stabilized", *_SAV, "convex-split", "eyre"),
    "sav_constant": _SAV,
    "convex_part": ("convex-split", "eyre"),
    "newton_tol": ("convex-split", "eyre"),
    "rtol": _ADAPTIVE,
    "atol": _ADAPTIVE,
}


def stepper_option_error(name: str, options) -> str | None:
    """Why one of ``options`` (keys) does not belong to stepper ``name``, or ``None``."""
    name = str(name).strip().lower()
    for key in options:
        owners = STEPPER_OPTIONS.get(key)
        if owners is not None and name not in owners:
            rest = ", ".join(repr(o) for o in owners[1:])
            return (f"{key} is an option of stepper {owners[0]!r}"
                    f"{f' (and {rest})' if rest else ''}, not {name!r}")
    return None

#: extra wall-clock cap of one segment (seconds), so progress and Ctrl-C stay responsive
SEGMENT_SECONDS = 0.5
#: the automatic energy-recording interval keeps recording below this fraction of the run
RECORDING_BUDGET = 0.02
#: consecutive automatic step-size reductions after failed health checks before giving up
MAX_RETRIES = 8


def make_stepper(name: str | Stepper, *, rtol: float = 1e-6, atol: float = 1e-9,
                 linear: np.ndarray | None = None, stabilization: float = 0.0) -> Stepper:
    """A stepper from its name (see ``STEPPERS``) or pass an instance through.

    Example
    -------
    >>> make_stepper("rk45", rtol=1e-8).rtol
    1e-08
    """
    if isinstance(name, Stepper):
        return name
    key = str(name).strip().lower()
    cls = STEPPERS.get(key)
    if cls is None:
        raise SolverError(f"unknown stepper {name!r}; valid names are {sorted(STEPPERS)}")
    if getattr(cls, "built_by_method", False):
        raise SolverError(f"stepper {key!r} is built from the energy's split: use "
                          f"Simulation.solve(stepper={key!r}) (or build nedsym.solve.sav.SAV "
                          "from its pieces)")
    if cls.needs_linear:
        if linear is None:
            raise SolverError(
                f"stepper {key!r} needs the Fourier multiplier of the linear part: pass "
                f"linear=L_hat (see nedsym.discretize.linear_multiplier)")
        if key == "stabilized" and stabilization <= 0:
            raise SolverError("stepper 'stabilized' needs stabilization=S > 0")
        return cls(linear, stabilization if key == "stabilized" else 0.0)
    if cls.adaptive:
        if not (np.isfinite(rtol) and np.isfinite(atol)) or rtol < 0 or atol < 0:
            raise SolverError(f"rtol and atol must be finite and >= 0, got rtol={rtol!r}, "
                              f"atol={atol!r}")
        return cls(rtol=rtol, atol=atol)
    return cls()


def stepper_class(name: str | Stepper) -> type:
    """The registered class of a stepper name (or of an instance)."""
    if isinstance(name, Stepper):
        return type(name)
    cls = STEPPERS.get(str(name).strip().lower())
    if cls is None:
        raise SolverError(f"unknown stepper {name!r}; valid names are {sorted(STEPPERS)}")
    return cls


def _initial_dt(stepper: Stepper, rhs: RHS, t: float, y: np.ndarray, span: float) -> float:
    """Hairer–Nørsett–Wanner starting step for adaptive steppers."""
    sc = stepper.atol + stepper.rtol * np.abs(y)
    f0 = np.empty_like(y)
    rhs(t, y, f0)
    d0, d1 = np.sqrt(np.mean((y / sc) ** 2)), np.sqrt(np.mean((f0 / sc) ** 2))
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    h0 = min(h0, span)
    f1 = np.empty_like(y)
    rhs(t + h0, y + h0 * f0, f1)
    d2 = np.sqrt(np.mean(((f1 - f0) / sc) ** 2)) / h0
    h1 = max(1e-6, h0 * 1e-3) if max(d1, d2) <= 1e-15 else \
        (0.01 / max(d1, d2)) ** (1.0 / stepper.order)
    return float(min(100 * h0, h1, span))



def integrate(
    rhs: RHS,
    y0: np.ndarray,
    t_end: float | None = None,
    *,
    t_span: tuple[float, float] | None = None,
    stepper: str | Stepper = "rk4",
    dt: float | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    linear: np.ndarray | None = None,
    stabilization: float = 0.0,
    trackers: Sequence[Tracker] = (),
    energy: Callable[[np.ndarray], float] | None = None,
    energy_every: int | str = 1,
    monotone_energy: float | None = None,
    residual: Callable[[float, np.ndarray], float] | None = None,
    residual_every: int = 1,
    steady_tol: float | None = None,
    snapshot_times: Sequence[float] | None = None,
    stable_dt: float | Callable[[float, np.ndarray], float] | None = None,
    max_steps: int | None = None,
    progress: bool | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int | None = None,
    checkpoint_seconds: float | None = None,
    resume: str | None = None,
    rng: np.random.Generator | None = None,
    on_interrupt: str = "return",
) -> Result:
    """Integrate :math:`\\dot y = f(t, y)` from ``t0`` to ``t_end``; ``rhs(t, y, out)`` writes f.

    For ``stepper="semi-implicit"``/``"stabilized"`` ``rhs`` is only the nonlinear part N and
    ``linear`` the Fourier multiplier :math:`\\hat L` (:math:`\\dot y = \\mathcal{L}y + N(y)`).
    Adaptive steppers (``rk45``, ``rk23``) start from ``dt`` (default: an estimate) and control
    the error with ``rtol``/``atol``. Fixed-step steppers use ``dt``; with ``dt=None`` the step
    is *automatic*: ``stable_dt(t, y)`` at the start, re-estimated as the run goes (about 3 %
    of the right-hand-side evaluations), and halved from the last good state whenever a health
    check fails. Steps land exactly on ``snapshot_times`` and ``t_end``.

    Recording: the energy is recorded at the start, every ``energy_every`` steps (``"auto"``:
    chosen from the measured costs of the first segments, then fixed, so that recording takes
    about 2 % of the run; kept in checkpoints) and at the end.
    Health: after every segment the state must be finite; with ``monotone_energy=rtol`` (set by
    :meth:`Simulation.solve` for gradient flows) the energy must also not rise by more than
    ``rtol * max(|E|, |E_0|)``. A failure with a user-given ``dt`` raises
    :class:`~nedsym.errors.BlowUpError` naming time, step and dt and advising the stable step
    estimated at the last good state. The run stops at ``t_end``, after ``max_steps`` steps,
    or when the residual norm drops below ``steady_tol`` (``residual(t, y) -> float``; default
    :math:`\\max|y - y_{prev}|/(t - t_{prev})` between recordings).

    Checkpoints go to ``checkpoint`` every ``checkpoint_every`` steps / ``checkpoint_seconds``
    seconds, on Ctrl-C and at the end; ``resume=path`` continues a run bit-for-bit. A resumed
    run must use the same stepper, a ``t_end`` not before the checkpoint and, for fixed steps
    given by the user, the same ``dt``: anything else is refused.

    Example
    -------
    >>> res = integrate(lambda t, y, out: np.negative(y, out=out), np.ones(1), 1.0,
    ...                 dt=0.01, progress=False)
    >>> bool(abs(res.final[0] - np.exp(-1)) < 1e-9)
    True
    """
    wall0 = time.perf_counter()
    if t_span is not None:
        t0, t_end = (float(v) for v in t_span)
    else:
        t0 = 0.0
    if isinstance(t_end, bool) or not isinstance(t_end, (int, float, np.integer, np.floating)) \
            or not np.isfinite(t_end) or t_end < t0:
        raise SolverError(f"need a finite t_end >= t0={t0}, got t_end={t_end!r}")
    if on_interrupt not in ("return", "raise"):
        raise SolverError(f"on_interrupt must be 'return' or 'raise', got {on_interrupt!r}")
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise SolverError(f"dt must be a positive finite number, got {dt!r}")
    auto_every = energy_every == "auto"
    if auto_every:
        energy_every = 1
    for name, every in (("energy_every", energy_every), ("residual_every", residual_every),
                        ("checkpoint_every", checkpoint_every), ("max_steps", max_steps)):
        if every is not None and (not isinstance(every, (int, np.integer)) or every < 1):
            raise SolverError(f"{name} must be a positive integer, got {every!r}")
    if monotone_energy is not None and not monotone_energy >= 0:
        raise SolverError(f"monotone_energy must be a tolerance >= 0, got {monotone_energy!r}")
    xp = namespace(y0)
    # float32 states (GPU backends) stay float32; everything else is computed in float64
    dtype = np.float32 if getattr(y0, "dtype", None) == np.float32 else np.float64
    y0 = xp.asarray(y0, dtype=dtype)
    # a sum is finite exactly when no entry is NaN/Inf (short of overflow, confirmed below):
    # one pass and no boolean temporary of the state's size
    if not np.isfinite(float(xp.sum(y0))) and not bool(xp.isfinite(y0).all()):
        bad = int(xp.size(y0) - xp.isfinite(y0).sum()) if xp is np else "some"
        raise SolverError(f"the initial state contains NaN or Inf ({bad} of {y0.size} values); "
                          "give a finite initial state")
    st = make_stepper(stepper, rtol=rtol, atol=atol, linear=linear,
                      stabilization=stabilization)
    y = st.bind(rhs, xp.ascontiguousarray(y0))
    state = RunState(t=t0, y=y, t0=t0, t_end=float(t_end))

    def stable_value(t: float, y: np.ndarray) -> float | None:
        if stable_dt is None:
            return None
        return float(stable_dt(t, y)) if callable(stable_dt) else float(stable_dt)

    all_trackers: list[Tracker] = []
    energy_tr = EnergyTracker(energy, energy_every) if energy is not None else None
    if energy_tr is not None:
        all_trackers.append(energy_tr)
    residual_tr = None
    if residual is not None or steady_tol is not None:
        residual_tr = ResidualTracker(residual, residual_every, steady_tol)
        all_trackers.append(residual_tr)
    snap_tr = SnapshotTracker(snapshot_times)
    all_trackers.append(snap_tr)
    all_trackers.extend(trackers)
    meta = {"stepper": st.name, "dt": None if dt is None else float(dt),
            "t_end": float(t_end)}

    def write_checkpoint() -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, state, st, all_trackers, rng, meta=meta)

    if checkpoint is not None:
        check_writable(checkpoint)
        if checkpoint_every or checkpoint_seconds:
            all_trackers.append(CheckpointTracker(write_checkpoint, checkpoint_every,
                                                  checkpoint_seconds))
    show = sys.stderr.isatty() if progress is None else bool(progress)
    progress_tr = ProgressTracker(show, energy_tr)

    resumed = resume is not None
    auto_dt = False
    if resumed:
        data = load_checkpoint(resume)
        _check_resume(data, meta, t_end, resume)
        restore(data, state, st, all_trackers, rng)
        import json

        saved = json.loads(str(data["meta"])) if "meta" in data else {}
        auto_dt = bool(saved.get("auto_dt", dt is None and not st.adaptive))
    elif st.adaptive:
        state.dt = float(dt) if dt is not None else _initial_dt(st, rhs, t0, y, t_end - t0)
    else:
        if dt is None:
            dt = stable_value(t0, y)
            if dt is None:
                raise SolverError(f"stepper {st.name!r} takes fixed steps: pass dt= "
                                  f"(or stable_dt=)")
            auto_dt = callable(stable_dt)
        state.dt = float(dt)
    meta["auto_dt"] = auto_dt
    if not (np.isfinite(state.dt) and state.dt > 0):
        raise SolverError(f"dt must be positive and finite, got {state.dt!r} (the stable-step "
                          "estimate failed at the initial state?)")
    stops = sorted({float(t_end), *[float(s) for tr in all_trackers for s in tr.stop_times()]})
    bad = [s for s in stops if s < t0 or s > t_end]
    if bad:
        raise SolverError(f"snapshot/stop times {bad} lie outside [t0, t_end] = [{t0}, {t_end}]")

    run = _Controller(state, st, stops, max_steps, [*all_trackers, progress_tr], stable_value,
                      energy_tr, auto_every and not resumed, monotone_energy, auto_dt)
    for tr in [*all_trackers, progress_tr]:
        tr.start(state, resumed)
    run.tune_recording()
    interrupted = False
    try:
        with deferred_sigint() as sigint:
            run.loop(sigint)
    except KeyboardInterrupt:
        interrupted = True
        state.stop_reason = "interrupted"
        write_checkpoint()
        if on_interrupt == "raise":
            progress_tr.finalize(state)
            raise
        warnings.warn(f"integration interrupted at t={state.t:.6g} (step {state.step}); "
                      f"returning a partial result" +
                      (f", checkpoint in {checkpoint!r}" if checkpoint else ""),
                      RuntimeWarning, stacklevel=2)
    except BlowUpError:
        progress_tr.finalize(state)
        write_checkpoint()       # the last good state, so a run can resume with a smaller dt
        raise
    finally:
        if not interrupted:
            progress_tr.finalize(state)
    if not interrupted:
        write_checkpoint()
    for tr in all_trackers:
        tr.finalize(state)
    if interrupted:
        progress_tr.finalize(state)
    diagnostics = {
        "steps": state.step, "rejected_steps": state.rejected,
        "wall_time": time.perf_counter() - wall0, "stepper": st.name,
        "interrupted": interrupted, "stop_reason": state.stop_reason, "t": state.t,
        "resumed": resumed, "segments": run.segments, "auto_dt": auto_dt,
        "dt_adjustments": run.adjustments,
        "energy_every": energy_tr.every if energy_tr is not None else None,
    }
    fields = snap_tr.array()
    # the final state: the last snapshot when it is one (no second copy), else a copy
    final = fields[-1] if len(snap_tr.times) and snap_tr.times[-1] == state.t else \
        np.array(to_host(state.y))
    return Result(
        fields=fields, times=np.array(snap_tr.times), final=final,
        energy=np.array(energy_tr.values if energy_tr else []),
        energy_times=np.array(energy_tr.times if energy_tr else []),
        residual=np.array(residual_tr.values if residual_tr else []),
        residual_times=np.array(residual_tr.times if residual_tr else []),
        dt_history=np.array(state.dt_history), diagnostics=diagnostics)


def _check_resume(data: dict, meta: dict, t_end: float, path: str) -> None:
    """A resumed run must continue the run that wrote the checkpoint."""
    import json

    saved = json.loads(str(data["meta"])) if "meta" in data else {}
    if saved.get("stepper") not in (None, meta["stepper"]):
        raise SolverError(f"cannot resume {path!r} with stepper {meta['stepper']!r}: the "
                          f"checkpoint was written by stepper {saved['stepper']!r}")
    if float(data["t"]) > t_end:
        raise SolverError(f"cannot resume {path!r} to t_end={t_end}: the checkpoint is already "
                          f"at t={float(data['t']):.6g}")
    if meta["dt"] is not None and saved.get("dt") is not None and saved["dt"] != meta["dt"]:
        raise SolverError(f"cannot resume {path!r} with dt={meta['dt']}: the checkpoint's run "
                          f"used dt={saved['dt']} (a resumed run continues bit-for-bit; start "
                          "a new run from res.final for another dt)")


class _Controller:
    """The segment loop of :func:`integrate` (state, health checks, automatic dt)."""

    def __init__(self, state: RunState, st: Stepper, stops: list[float],
                 max_steps: int | None, trackers: list[Tracker],
                 stable_value: Callable[[float, np.ndarray], float | None],
                 energy_tr: EnergyTracker | None, auto_every: bool,
                 monotone_energy: float | None, auto_dt: bool):
        self.state, self.st, self.stops, self.max_steps = state, st, stops, max_steps
        self.trackers, self.stable_value = trackers, stable_value
        self.energy_tr, self.auto_every = energy_tr, auto_every
        self.monotone, self.auto_dt = monotone_energy, auto_dt
        self.segments = 0
        self.adjustments: list[tuple[float, float, str]] = []   # (t, new dt, reason)
        # best measured wall times of one step and of one energy evaluation; a stepper that
        # lives across runs (a Simulation's compiled stepper) keeps them in ``timing``
        self._timing = getattr(st, "timing", None)
        known = self._timing or {}
        self._step_seconds = known.get("step", np.inf)
        self._energy_seconds = known.get("energy", np.inf) if energy_tr is not None \
            and known.get("energy_fn") == energy_tr.energy else np.inf
        self._retries = 0
        self._tunings = 0
        self._last_estimate = state.step
        # re-estimate an automatic dt after this many steps: ~3 % of the rhs evaluations
        # (a power iteration costs ~9 evaluations)
        self._estimate_every = max(10, int(np.ceil(9 / 0.03 / max(1, st.stages))))
        self._scale: float | None = None    # |E_0|, read once the tracker has recorded it

    # -- segment length --------------------------------------------------------
    def _steps_allowed(self) -> int:
        s = self.state
        n = 1 << 30
        for tr in self.trackers:
            due = tr.next_step(s)
            if due is not None:
                n = min(n, max(1, due - s.step))
        if self.max_steps is not None:
            n = min(n, self.max_steps - s.step)
        if np.isfinite(self._step_seconds):
            n = min(n, max(1, int(SEGMENT_SECONDS / self._step_seconds)))
        else:
            n = min(n, 4)            # first segments: short, to measure the step time
        if self.auto_dt:
            n = min(n, max(1, self._last_estimate + self._estimate_every - s.step))
        return max(1, n)

    def _plan(self, next_stop: float) -> tuple[int, float, float, bool]:
        """(steps, dt, t after them, clipped): full steps of ``state.dt`` that stay strictly
        before ``next_stop`` (the rule of a step-by-step loop), or one step landing on it."""
        s = self.state
        dt, cap = s.dt, self._steps_allowed()
        n, t = 0, s.t
        while n < cap and not (t + dt >= next_stop - 1e-8 * dt):
            t += dt
            n += 1
        if n == 0:
            return 1, next_stop - s.t, next_stop, True
        return n, dt, t, False

    # -- the loop ------------------------------------------------------------------
    def loop(self, sigint: dict[str, bool]) -> None:
        s, st = self.state, self.st
        while True:
            if s.t >= s.t_end:
                s.stop_reason = "t_end"
                return
            if self.max_steps is not None and s.step >= self.max_steps:
                s.stop_reason = "max_steps"
                return
            next_stop = next(v for v in self.stops if v > s.t)
            wall = time.perf_counter()
            if st.adaptive:
                dt_try = s.dt
                clipped = s.t + dt_try >= next_stop - 1e-8 * dt_try
                if clipped:
                    dt_try = next_stop - s.t
                ynew = st.buffer_other_than(s.y)
                dt_used, dt_next, rejected = st.step(s.t, s.y, dt_try, ynew)
                health = st.health(ynew)
                n = 1
                t_new = next_stop if (clipped and dt_used == dt_try) else s.t + dt_used
            else:
                n, dt_used, t_new, clipped = self._plan(next_stop)
                try:
                    ynew, health, done = st.advance(s.t, s.y, n, dt_used, sigint)
                except PartialSegment as part:
                    if part.steps:
                        self._commit_partial(part.state, part.steps, dt_used)
                    raise KeyboardInterrupt from None
                if done < n:
                    n, clipped = done, False
                    t_new = s.t
                    for _ in range(done):
                        t_new += dt_used
                rejected, dt_next = 0, s.dt
            seconds = time.perf_counter() - wall
            if self.segments > 0 or self._timing:  # a new stepper's first call compiles
                self._step_seconds = min(self._step_seconds, seconds / n)
                if self._timing is not None:
                    self._timing["step"] = self._step_seconds
            self.segments += 1
            energy = self._health(ynew, health, n, dt_used, t_new)
            if energy is False:            # failed and retried with a smaller dt
                continue
            self._retries = 0
            s.y_prev, s.y, s.t_prev = s.y, ynew, s.t
            s.t, s.energy = t_new, energy
            s.step += n
            s.rejected += rejected
            s.dt_last = dt_used
            s.dt_history.extend([dt_used] * n)
            if st.adaptive:
                s.dt = max(dt_next, s.dt) if clipped and rejected == 0 else dt_next
            elif self.auto_dt and s.step - self._last_estimate >= self._estimate_every:
                self._reestimate()
            for tr in self.trackers:
                tr.handle(s)
            self.tune_recording()
            if s.stop_reason is not None:
                return
            if sigint["hit"]:
                raise KeyboardInterrupt

    def _commit_partial(self, y, n: int, dt: float) -> None:
        """Keep the steps a Python segment completed before a KeyboardInterrupt."""
        s = self.state
        for _ in range(n):
            s.t += dt
        s.y_prev, s.y, s.energy = s.y, y, None
        s.step += n
        s.dt_last = dt
        s.dt_history.extend([dt] * n)

    # -- health ---------------------------------------------------------------------
    def _health(self, ynew, health: float, n: int, dt: float, t_new: float):
        """The energy of ``ynew`` when it was evaluated (None if not), after checking it;
        ``False`` when the segment failed and is to be retried with a smaller step."""
        s = self.state
        energy = None
        reason = None
        if not np.isfinite(health):
            reason = "non-finite"
        elif self.energy_tr is not None and (self.monotone is not None
                                              or self.energy_tr.due(s.step + n)):
            wall = time.perf_counter()
            energy = self.energy_tr.evaluate(ynew, t_new)
            self._energy_seconds = min(self._energy_seconds, time.perf_counter() - wall)
            if self._timing is not None:
                self._timing.update(energy=self._energy_seconds, energy_fn=self.energy_tr.energy)
            previous = s.energy if s.energy is not None else self.energy_tr.latest
            if self._scale is None and self.energy_tr.values:
                self._scale = abs(self.energy_tr.values[0])
            if not np.isfinite(energy):
                reason = "non-finite"
            elif self.monotone is not None and previous is not None:
                scale = max(abs(previous), self._scale or 0.0, 1e-300)
                if energy > previous + self.monotone * scale:
                    reason = "energy rose"
        if reason is None:
            return energy
        if self.auto_dt and self._retries < MAX_RETRIES:
            advised = self._advice(s.t, s.y)
            self._retries += 1
            new = min(s.dt / 2, advised) if advised is not None and np.isfinite(advised) \
                else s.dt / 2
            self.adjustments.append((s.t, new, reason))
            s.dt = new
            self._last_estimate = s.step
            return False
        t_good, y_good, step_good, e_good, reason, e_bad = self._localize(n, dt, reason)
        advised = self._advice(t_good, y_good)
        what = ("the state became NaN/Inf" if reason == "non-finite" else
                f"the energy rose from {e_good:.6g} to {e_bad:.6g} (a gradient flow must "
                "not gain energy)")
        where = (f"{what} at step {step_good + 1} "
                 f"(t={t_good:.6g} -> {t_good + dt:.6g}, dt={dt:.3g})")
        if advised is not None and np.isfinite(advised):
            advice = (f"; at the last good state (t={t_good:.6g}, step {step_good}) the "
                      f"estimated stable dt is {advised:.3g}: reduce dt below {advised:.3g}, "
                      "leave dt unset (automatic step), or use stepper='semi-implicit'")
        else:
            advice = ("; reduce dt (halve it until the run is stable), use an adaptive stepper "
                      "('rk45'), or use stepper='semi-implicit' for stiff linear parts")
        if self.auto_dt:
            advice += f" (gave up after {MAX_RETRIES} automatic step reductions)"
        raise BlowUpError(where + advice, t=t_good, step=step_good, dt=dt, advised_dt=advised,
                          state=np.array(to_host(y_good)), reason=reason)

    def _localize(self, n: int, dt: float, reason: str):
        """Replay a failed segment from its (good) start in halving sub-segments to find the
        first failing step. Returns ``(t, y, step, energy)`` of the last good state (``y`` a
        copy), the failure reason there and the failing energy (or None)."""
        s, st = self.state, self.st
        t, y, step = s.t, s.y.copy(), s.step
        e = s.energy if s.energy is not None else \
            (self.energy_tr.latest if self.energy_tr is not None else None)
        while n > 1:
            m = n // 2
            ynew, health, _ = st.advance(t, y, m, dt)
            fail, e_new = self._check(ynew, health, e, t + m * dt)
            if fail is None:
                y[...] = ynew
                t, step, e, n = t + m * dt, step + m, e_new, n - m
            else:
                n = m
        ynew, health, _ = st.advance(t, y, 1, dt)
        fail, e_new = self._check(ynew, health, e, t + dt)
        return t, y, step, e, fail or reason, e_new

    def _check(self, ynew, health: float, previous: float | None, t: float):
        """(failure reason or None, energy) of a candidate state, as in :meth:`_health`."""
        if not np.isfinite(health):
            return "non-finite", None
        if self.energy_tr is None:
            return None, None
        energy = self.energy_tr.evaluate(ynew, t)
        if not np.isfinite(energy):
            return "non-finite", None
        if self.monotone is not None and previous is not None:
            scale = max(abs(previous), self._scale or 0.0, 1e-300)
            if energy > previous + self.monotone * scale:
                return "energy rose", energy
        return None, energy

    def _advice(self, t: float, y) -> float | None:
        try:
            return self.stable_value(t, y)
        except Exception:  # noqa: BLE001 - advice is best effort; the blow-up is the error
            return None

    def _reestimate(self) -> None:
        s = self.state
        est = self._advice(s.t, s.y)
        self._last_estimate = s.step
        if est is not None and np.isfinite(est) and est > 0:
            new = min(est, 2.0 * s.dt)
            if new != s.dt:
                self.adjustments.append((s.t, new, "re-estimated"))
                s.dt = new

    def tune_recording(self) -> None:
        """Automatic ``energy_every``: recording costs at most RECORDING_BUDGET of the run."""
        tr = self.energy_tr
        if tr is None or not self.auto_every or not np.isfinite(self._step_seconds) \
                or not np.isfinite(self._energy_seconds):
            return
        ratio = self._energy_seconds / (RECORDING_BUDGET * self._step_seconds)
        tr.every = int(min(10_000, max(1, np.ceil(ratio))))
        self._tunings += 1
        if self._tunings >= 3:     # then fixed (and checkpointed), so a resumed run records
            self.auto_every = False  # at the same steps
