"""The integration controller: steppers + trackers + checkpoints in one loop.

Ctrl-C policy: while :func:`integrate` runs (in the main thread) the first SIGINT is *deferred*
to the end of the current step; the loop then stops cleanly, writes a checkpoint (when a
``checkpoint`` path is set) and **returns a partial Result with**
``diagnostics["interrupted"] = True`` (or re-raises ``KeyboardInterrupt`` when
``on_interrupt="raise"``). A second Ctrl-C interrupts immediately. A ``KeyboardInterrupt``
raised inside ``rhs`` is handled the same way: steppers never modify the state before a step
completes, so the checkpoint holds the last completed step.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from nedsym.errors import SolverError
from nedsym.solve.arrays import namespace, to_host
from nedsym.solve.checkpoint import load_checkpoint, restore, save_checkpoint
from nedsym.solve.result import Result
from nedsym.solve.spectral import SemiImplicitSpectral
from nedsym.solve.steppers import (
    RHS,
    RK4,
    BogackiShampine32,
    DormandPrince45,
    ExplicitEuler,
    Stepper,
)
from nedsym.solve.trackers import (
    CheckpointTracker,
    EnergyTracker,
    ProgressTracker,
    ResidualTracker,
    RunState,
    SnapshotTracker,
    Tracker,
    check_finite,
)

__all__ = ["integrate", "make_stepper", "STEPPERS"]

STEPPERS: dict[str, Callable[..., Stepper]] = {
    "euler": ExplicitEuler,
    "rk4": RK4,
    "rk45": DormandPrince45,
    "dopri5": DormandPrince45,
    "rk23": BogackiShampine32,
    "bs32": BogackiShampine32,
    "semi-implicit": SemiImplicitSpectral,
    "stabilized": SemiImplicitSpectral,
}


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
    if key not in STEPPERS:
        raise SolverError(f"unknown stepper {name!r}; valid names are {sorted(STEPPERS)}")
    if key in ("semi-implicit", "stabilized"):
        if linear is None:
            raise SolverError(
                f"stepper {key!r} needs the Fourier multiplier of the linear part: pass "
                f"linear=L_hat (see nedsym.solve.linear_multiplier)")
        if key == "stabilized" and stabilization <= 0:
            raise SolverError("stepper 'stabilized' needs stabilization=S > 0")
        return SemiImplicitSpectral(linear, stabilization)
    if key in ("rk45", "dopri5", "rk23", "bs32"):
        return STEPPERS[key](rtol=rtol, atol=atol)
    return STEPPERS[key]()


@contextmanager
def _deferred_sigint() -> Iterator[dict[str, bool]]:
    flag = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum: int, frame: Any) -> None:
        if flag["hit"]:
            raise KeyboardInterrupt
        flag["hit"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


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
    energy_every: int = 1,
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
    Fixed-step steppers use ``dt`` (default: ``stable_dt``); adaptive ones (``rk45``, ``rk23``)
    start from ``dt`` (default: an estimate) and control the error with ``rtol``/``atol``.
    Steps are shortened to land exactly on ``snapshot_times`` and ``t_end``. The run stops at
    ``t_end``, after ``max_steps`` steps, or when the residual norm drops below
    ``steady_tol`` (``residual(t, y) -> float``; default :math:`\\max|y_{n+1}-y_n|/\\Delta t`).
    NaN/Inf raises :class:`~nedsym.errors.BlowUpError`. Checkpoints go to ``checkpoint``
    every ``checkpoint_every`` steps / ``checkpoint_seconds`` seconds, on Ctrl-C and at the end;
    ``resume=path`` continues a run bit-for-bit (same arguments otherwise).

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
    if t_end is None or not np.isfinite(t_end) or t_end < t0:
        raise SolverError(f"need a finite t_end >= t0={t0}, got t_end={t_end!r}")
    if on_interrupt not in ("return", "raise"):
        raise SolverError(f"on_interrupt must be 'return' or 'raise', got {on_interrupt!r}")
    xp = namespace(y0)
    # float32 states (GPU backends) stay float32; everything else is computed in float64
    dtype = np.float32 if getattr(y0, "dtype", None) == np.float32 else np.float64
    y = xp.array(y0, dtype=dtype, order="C", copy=True)
    ynew = np.empty_like(y)
    st = make_stepper(stepper, rtol=rtol, atol=atol, linear=linear,
                      stabilization=stabilization)
    st.bind(rhs, y)
    state = RunState(t=t0, y=y, t0=t0, t_end=float(t_end), y_prev=ynew)

    def stable_value() -> float | None:
        if stable_dt is None:
            return None
        return float(stable_dt(state.t, state.y)) if callable(stable_dt) else float(stable_dt)

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

    def write_checkpoint() -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, state, st, all_trackers, rng)

    if checkpoint is not None and (checkpoint_every or checkpoint_seconds):
        all_trackers.append(CheckpointTracker(write_checkpoint, checkpoint_every,
                                              checkpoint_seconds))
    show = sys.stderr.isatty() if progress is None else bool(progress)
    progress_tr = ProgressTracker(show, energy_tr)

    resumed = resume is not None
    if resumed:
        restore(load_checkpoint(resume), state, st, all_trackers, rng)
    elif st.adaptive:
        state.dt = float(dt) if dt is not None else _initial_dt(st, rhs, t0, y, t_end - t0)
    else:
        if dt is None:
            dt = stable_value()
            if dt is None:
                raise SolverError(f"stepper {st.name!r} takes fixed steps: pass dt= "
                                  f"(or stable_dt=)")
        state.dt = float(dt)
    if not state.dt > 0:
        raise SolverError(f"dt must be positive, got {state.dt!r}")
    stops = sorted({float(t_end), *[float(s) for tr in all_trackers for s in tr.stop_times()]})
    bad = [s for s in stops if s < t0 or s > t_end]
    if bad:
        raise SolverError(f"snapshot/stop times {bad} lie outside [t0, t_end] = [{t0}, {t_end}]")

    for tr in [*all_trackers, progress_tr]:
        tr.start(state, resumed)
    interrupted = False
    try:
        with _deferred_sigint() as sigint:
            y, ynew = _loop(state, st, stops, max_steps, [*all_trackers, progress_tr],
                            stable_value, sigint)
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
        "resumed": resumed,
    }
    return Result(
        fields=np.array(snap_tr.fields), times=np.array(snap_tr.times),
        final=np.array(to_host(state.y)),
        energy=np.array(energy_tr.values if energy_tr else []),
        energy_times=np.array(energy_tr.times if energy_tr else []),
        residual=np.array(residual_tr.values if residual_tr else []),
        residual_times=np.array(residual_tr.times if residual_tr else []),
        dt_history=np.array(state.dt_history), diagnostics=diagnostics)


def _loop(state: RunState, st: Stepper, stops: list[float], max_steps: int | None,
          trackers: list[Tracker], stable_value: Callable[[], float | None],
          sigint: dict[str, bool]) -> tuple[np.ndarray, np.ndarray]:
    y, ynew = state.y, state.y_prev
    assert ynew is not None
    while True:
        if state.t >= state.t_end:
            state.stop_reason = "t_end"
            break
        if max_steps is not None and state.step >= max_steps:
            state.stop_reason = "max_steps"
            break
        next_stop = next(s for s in stops if s > state.t)
        dt_try = state.dt
        clipped = state.t + dt_try >= next_stop - 1e-8 * dt_try
        if clipped:
            dt_try = next_stop - state.t
        dt_taken, dt_next, rejected = st.step(state.t, y, dt_try, ynew)
        if not np.isfinite(ynew).all():
            check_finite(ynew, state, dt_taken, stable_value())
        # commit: swap buffers, then advance the clock
        y, ynew = ynew, y
        state.y, state.y_prev = y, ynew
        state.t = next_stop if (clipped and dt_taken == dt_try) else state.t + dt_taken
        state.step += 1
        state.rejected += rejected
        state.dt_last = dt_taken
        state.dt_history.append(dt_taken)
        if st.adaptive:
            state.dt = max(dt_next, state.dt) if clipped and rejected == 0 else dt_next
        for tr in trackers:
            tr.handle(state)
        if state.stop_reason is not None:
            break
        if sigint["hit"]:
            raise KeyboardInterrupt
    return y, ynew
