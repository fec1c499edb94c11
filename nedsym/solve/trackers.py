"""Trackers: what the integration loop records or does between steps.

A tracker sees the :class:`RunState` after every accepted segment of steps (``handle``), once
at the start and once at the end; ``next_step`` tells the controller at which step it next
needs the state, and segments end there. Its ``state_dict`` goes into checkpoints so that a
resumed run continues its histories exactly. Trackers may ask the controller to step exactly
onto given times (``stop_times``) and may stop the run by setting ``state.stop_reason``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nedsym.solve.arrays import to_host

__all__ = ["RunState", "Tracker", "EnergyTracker", "ResidualTracker", "SnapshotTracker",
           "ProgressTracker", "CheckpointTracker"]


@dataclass
class RunState:
    """Everything the controller knows about a run in progress."""

    t: float
    y: np.ndarray
    t0: float
    t_end: float
    step: int = 0
    dt: float = float("nan")        # proposed size of the next step
    dt_last: float = float("nan")   # size of the last accepted step
    rejected: int = 0
    dt_history: list[float] = field(default_factory=list)
    y_prev: np.ndarray | None = None
    t_prev: float = float("nan")    # time of y_prev (the start of the last segment)
    stop_reason: str | None = None
    energy: float | None = None     # energy of y when the controller evaluated it


def _takes_time(fn: Callable) -> bool:
    """Whether ``fn`` takes a second positional argument (the time)."""
    import inspect

    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2


class Tracker:
    """Base class; override what you need."""

    name = "tracker"

    def start(self, state: RunState, resumed: bool) -> None:
        """Called before the first step (``resumed``: state came from a checkpoint)."""

    def handle(self, state: RunState) -> None:
        """Called after every accepted segment (one or more steps)."""

    def next_step(self, state: RunState) -> int | None:
        """The step number at which this tracker next needs the state (``None``: no need);
        the controller ends its segment there."""
        return None

    def finalize(self, state: RunState) -> None:
        """Called once when the loop ends (also on interruption)."""

    def stop_times(self) -> Sequence[float]:
        """Times the controller must step exactly onto."""
        return ()

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        pass


class EnergyTracker(Tracker):
    """Record :math:`E(y)` at the start, every ``every`` steps and at the end.

    Example
    -------
    >>> tr = EnergyTracker(lambda y: float((y ** 2).sum()))
    >>> tr.start(RunState(t=0.0, y=np.ones(2), t0=0.0, t_end=1.0), resumed=False)
    >>> tr.values
    [2.0]
    """

    name = "energy"

    def __init__(self, energy: Callable[..., float], every: int = 1) -> None:
        self.energy, self.every = energy, max(1, int(every))
        self._takes_time = _takes_time(energy)
        self.times: list[float] = []
        self.values: list[float] = []

    def _record(self, state: RunState) -> None:
        self.times.append(state.t)
        value = state.energy if state.energy is not None else self.evaluate(state.y, state.t)
        self.values.append(value)

    def evaluate(self, y: np.ndarray, t: float) -> float:
        """``energy(y, t)`` when the callable takes the time (boundary data may depend on
        it), else ``energy(y)``."""
        return float(self.energy(y, t) if self._takes_time else self.energy(y))

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def next_step(self, state):
        return (state.step // self.every + 1) * self.every

    def start(self, state, resumed):
        if not resumed:
            self._record(state)

    def handle(self, state):
        if self.due(state.step):
            self._record(state)

    def finalize(self, state):
        if not self.times or self.times[-1] != state.t:
            self._record(state)

    @property
    def latest(self) -> float | None:
        return self.values[-1] if self.values else None

    def state_dict(self):
        return {"times": np.array(self.times, float), "values": np.array(self.values, float),
                "every": np.int64(self.every)}

    def load_state_dict(self, state):
        self.times = state["times"].tolist()
        self.values = state["values"].tolist()
        if "every" in state:
            self.every = int(state["every"])


class ResidualTracker(Tracker):
    """Record a residual norm and stop at steady state (norm < ``steady_tol``).

    ``residual(t, y) -> float``; by default the max-norm of
    :math:`(y - y_{prev})/(t - t_{prev})` over the last segment, an estimate of
    :math:`\\|\\partial_t y\\|_\\infty`.
    """

    name = "residual"

    def __init__(self, residual: Callable[[float, np.ndarray], float] | None = None,
                 every: int = 1, steady_tol: float | None = None) -> None:
        self.residual, self.every, self.steady_tol = residual, max(1, int(every)), steady_tol
        self.times: list[float] = []
        self.values: list[float] = []

    def next_step(self, state):
        return (state.step // self.every + 1) * self.every

    def handle(self, state):
        if state.step % self.every:
            return
        if self.residual is not None:
            r = float(self.residual(state.t, state.y))
        else:
            r = float(np.max(np.abs(state.y - state.y_prev))) / (state.t - state.t_prev)
        self.times.append(state.t)
        self.values.append(r)
        if self.steady_tol is not None and r < self.steady_tol:
            state.stop_reason = "steady"

    def state_dict(self):
        return {"times": np.array(self.times, float), "values": np.array(self.values, float)}

    def load_state_dict(self, state):
        self.times = state["times"].tolist()
        self.values = state["values"].tolist()


class SnapshotTracker(Tracker):
    """Keep copies of the state at ``times`` (stepped onto exactly), or at start and end."""

    name = "snapshots"

    def __init__(self, times: Sequence[float] | None = None) -> None:
        self.requested = None if times is None else sorted(float(t) for t in times)
        self.times: list[float] = []
        self._store: np.ndarray | None = None     # one block for every snapshot of the run

    @property
    def fields(self) -> list[np.ndarray]:
        """The snapshots taken so far (views into one preallocated block)."""
        return [] if self._store is None else list(self._store[:len(self.times)])

    def array(self) -> np.ndarray:
        """The snapshots as one array ``(len(times), *state shape)`` (no copy)."""
        if self._store is None:
            return np.zeros((0,))
        return self._store[:len(self.times)]

    def stop_times(self):
        return self.requested or ()

    def _record(self, state: RunState) -> None:
        if self._store is None:
            capacity = 2 if self.requested is None else max(1, len(self.requested))
            self._store = np.empty((capacity, *state.y.shape), dtype=state.y.dtype)
        k = len(self.times)
        if k == len(self._store):                 # more than planned (a resume): grow
            self._store = np.concatenate([self._store, np.empty_like(self._store)])
        self._store[k] = to_host(state.y)         # snapshots live on the host
        self.times.append(state.t)

    def _due(self, t: float) -> bool:
        return any(tr == t for tr in self.requested or ()) and t not in self.times

    def start(self, state, resumed):
        if not resumed and (self.requested is None or self._due(state.t)):
            self._record(state)

    def handle(self, state):
        if self.requested is not None and self._due(state.t):
            self._record(state)

    def finalize(self, state):
        if self.requested is None and (not self.times or self.times[-1] != state.t):
            self._record(state)

    def state_dict(self):
        return {"times": np.array(self.times, float),
                "fields": self.array() if self.times else np.zeros((0,))}

    def load_state_dict(self, state):
        self.times = state["times"].tolist()
        self._store = np.array(state["fields"]) if len(self.times) else None


class ProgressTracker(Tracker):
    """A tqdm progress bar on stderr showing t, dt, energy and ETA (silent when disabled)."""

    name = "progress"

    def __init__(self, enabled: bool = True, energy: EnergyTracker | None = None,
                 refresh_seconds: float = 0.2) -> None:
        self.enabled, self.energy, self.refresh = enabled, energy, refresh_seconds
        self.bar: Any = None
        self._last = 0.0

    def start(self, state, resumed):
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=state.t_end - state.t0, initial=state.t - state.t0,
                        file=sys.stderr, unit="t", dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| t={n:.4g}/{total:.4g} [{elapsed}<{remaining}"
                                   "{postfix}]")

    def handle(self, state):
        if self.bar is None:
            return
        now = time.perf_counter()
        if now - self._last < self.refresh:
            return
        self._last = now
        self.bar.n = state.t - state.t0
        post = {"dt": f"{state.dt_last:.3g}", "step": state.step}
        if self.energy is not None and self.energy.latest is not None:
            post["E"] = f"{self.energy.latest:.6g}"
        self.bar.set_postfix(post, refresh=True)

    def finalize(self, state):
        if self.bar is not None:
            self.bar.n = state.t - state.t0
            self.bar.refresh()
            self.bar.close()
            self.bar = None


class CheckpointTracker(Tracker):
    """Call ``write()`` every ``every_steps`` steps and/or every ``every_seconds`` seconds."""

    name = "checkpoint"

    def __init__(self, write: Callable[[], None], every_steps: int | None = None,
                 every_seconds: float | None = None) -> None:
        self.write, self.every_steps, self.every_seconds = write, every_steps, every_seconds
        self._last = time.perf_counter()

    def next_step(self, state):
        if not self.every_steps:
            return None
        return (state.step // int(self.every_steps) + 1) * int(self.every_steps)

    def handle(self, state):
        due = bool(self.every_steps) and state.step % int(self.every_steps) == 0
        now = time.perf_counter()
        if self.every_seconds is not None and now - self._last >= self.every_seconds:
            due = True
        if due:
            self.write()
            self._last = now
