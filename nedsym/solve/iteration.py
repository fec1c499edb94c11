"""The controller of methods that advance by *iterations*: NED and its baselines, the
relaxation optimizers (SGD, Entropy-SGD, HJ-prox), width–depth training and the
Hamilton–Jacobi grid solver.

Time integrations of grids go through :func:`nedsym.solve.integrate`; everything that
advances one iteration at a time goes through :func:`iterate` here, and both share one
Ctrl-C policy (:func:`deferred_sigint`), one progress bar (:func:`progress_bar`), one
checkpoint file format (:mod:`nedsym.solve.checkpoint`) and one health rule: a step whose
state or recorded values are not finite raises :class:`~nedsym.errors.BlowUpError` with the
method's advice, and the method keeps the last good state.

A method is an :class:`Iteration`: ``step(k)`` advances one iteration and returns a record
(a dict of floats, the columns of the history). It must commit its new state only when the
step succeeded, so a ``KeyboardInterrupt`` or a blow-up leaves the last completed state.

Ctrl-C: the first SIGINT is deferred to the end of the current iteration; the loop then
stops, writes the checkpoint (when one is set) and returns with ``interrupted=True`` (or
re-raises with ``on_interrupt="raise"``). A second Ctrl-C interrupts at once.

Example
-------
>>> class Halve(Iteration):
...     name = "halve"
...     def __init__(self):
...         self.x = 1.0
...     def step(self, k):
...         self.x /= 2
...         return {"x": self.x}
>>> out = iterate(Halve(), 3)
>>> out.history["x"].tolist(), out.steps
([0.5, 0.25, 0.125], 3)
"""

from __future__ import annotations

import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nedsym._version import __version__
from nedsym.errors import BlowUpError, SolverError
from nedsym.solve.checkpoint import check_writable, read_npz, write_npz

__all__ = ["Iteration", "IterationOutcome", "NonFiniteStep", "iterate", "deferred_sigint",
           "progress_bar", "finite"]


class NonFiniteStep(SolverError):
    """Raised by :meth:`Iteration.step` when the step it tried is not finite (the state is
    left as it was); :func:`iterate` turns it into a :class:`~nedsym.errors.BlowUpError`."""


class Iteration:
    """One method that :func:`iterate` drives; subclasses set ``name`` and ``step``."""

    #: the method's name (progress bar, checkpoint metadata, messages)
    name = "iteration"
    #: record columns that must stay finite (a NaN there is a blow-up)
    health: tuple[str, ...] = ()
    #: record columns shown on the progress bar
    postfix: tuple[str, ...] = ()

    def step(self, k: int) -> dict[str, float]:
        """Advance iteration ``k`` (0-based over the whole run, resumed runs included)."""
        raise NotImplementedError

    def advice(self, k: int, what: str) -> str:
        """The one-line message of a blow-up at iteration ``k`` (``what`` happened)."""
        return f"{self.name} blew up at iteration {k}: {what}"

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint needs to resume (arrays, or JSON-able values)."""
        raise SolverError(f"{self.name} cannot be checkpointed")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise SolverError(f"{self.name} cannot be resumed from a checkpoint")

    def meta(self) -> dict[str, Any]:
        """Facts a resumed run must share with the run that wrote the checkpoint."""
        return {}


@dataclass
class IterationOutcome:
    """What :func:`iterate` returns: named histories (one entry per completed iteration, a
    resumed run's earlier iterations included) and how the run ended."""

    history: dict[str, np.ndarray]
    steps: int
    interrupted: bool = False
    converged: bool = False
    reason: str = ""
    wall_time: float = 0.0
    resumed_from: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def deferred_sigint() -> Iterator[dict[str, bool]]:
    """While active (main thread only) the first Ctrl-C sets ``flag["hit"]`` instead of
    raising; the loop stops at the end of its step. A second Ctrl-C raises at once."""
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


def progress_bar(total: float | None, desc: str, enabled: bool | None, **kw):
    """The one progress bar of nedsym's loops (tqdm on stderr), or ``None`` when disabled
    (``enabled=None``: shown when stderr is a terminal)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True, **kw)


class _History:
    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}
        self.n = 0

    def add(self, k: int, wall: float, rec: dict[str, float]) -> None:
        rec = {"step": k + 1, **rec, "wall": wall}
        for key in rec.keys() - self.rows.keys():
            self.rows[key] = [math.nan] * self.n
        for key, col in self.rows.items():
            col.append(float(rec.get(key, math.nan)))
        self.n += 1

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.rows.items()}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.rows = {k: [float(x) for x in v] for k, v in arrays.items()}
        self.n = len(next(iter(self.rows.values()))) if self.rows else 0


def iterate(method: Iteration, steps: int, *,
            stop: Callable[[int, dict[str, float]], str | None] | None = None,
            callback: Callable[[int, dict[str, float]], None] | None = None,
            progress: bool | None = False,
            checkpoint: str | None = None,
            checkpoint_every: int | None = None,
            resume: str | None = None,
            on_interrupt: str = "return") -> IterationOutcome:
    """Run ``method`` for ``steps`` iterations (with ``resume``: up to ``steps`` in all).

    ``stop(k, record)`` may end the run early by returning a reason (the run is then
    ``converged``); ``callback(k, record)`` sees every completed iteration. ``checkpoint``
    is written every ``checkpoint_every`` iterations, on Ctrl-C, on a blow-up (the last good
    state) and at the end; ``resume=path`` continues from such a file and gives, together,
    the same iterations as one uninterrupted run.
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise SolverError(f"{method.name}: the number of steps must be an integer >= 0, got "
                          f"{steps!r}")
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or not isinstance(
            checkpoint_every, (int, np.integer)) or checkpoint_every < 1):
        raise SolverError(f"checkpoint_every must be a positive integer, got "
                          f"{checkpoint_every!r}")
    if on_interrupt not in ("return", "raise"):
        raise SolverError(f"on_interrupt must be 'return' or 'raise', got {on_interrupt!r}")
    if checkpoint is not None:
        check_writable(checkpoint)
    hist = _History()
    k0 = 0
    if resume is not None:
        k0 = _restore(method, read_npz(resume), hist, resume, steps)

    def save(k: int) -> None:
        if checkpoint is None:
            return
        data: dict[str, Any] = {"k": np.int64(k), "meta": np.array(json.dumps(
            {"method": method.name, "version": __version__, **method.meta()}))}
        for key, v in method.state_dict().items():
            if isinstance(v, np.ndarray):
                data[f"state/{key}"] = v
            else:
                data[f"json/{key}"] = np.array(json.dumps(v))
        for key, v in hist.arrays().items():
            data[f"history/{key}"] = v
        write_npz(checkpoint, data)

    t0 = time.perf_counter()
    bar = progress_bar(steps, method.name, progress, initial=k0)
    shown = 0.0
    k = k0
    out = IterationOutcome({}, 0, resumed_from=k0)
    try:
        with deferred_sigint() as sigint:
            while k < steps:
                try:
                    rec = method.step(k)
                except NonFiniteStep as exc:
                    save(k)
                    raise BlowUpError(method.advice(k, str(exc)), step=k,
                                      reason="non-finite") from None
                bad = [c for c in method.health if not math.isfinite(rec.get(c, 0.0))]
                if bad:
                    save(k)
                    raise BlowUpError(method.advice(k, f"{', '.join(bad)} not finite"),
                                      step=k, reason="non-finite")
                hist.add(k, time.perf_counter() - t0, rec)
                k += 1
                if bar is not None:
                    bar.update(1)
                    now = time.perf_counter()
                    if method.postfix and now - shown > 0.2:
                        shown = now
                        bar.set_postfix({c: f"{rec[c]:.3e}" for c in method.postfix
                                         if c in rec}, refresh=False)
                if callback is not None:
                    callback(k - 1, rec)
                reason = stop(k - 1, rec) if stop is not None else None
                if reason:
                    out.converged, out.reason = True, reason
                    break
                if checkpoint_every and checkpoint and k % checkpoint_every == 0:
                    save(k)
                if sigint["hit"]:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        out.interrupted = True
        out.reason = f"interrupted (Ctrl-C) after iteration {k}"
        save(k)
        if on_interrupt == "raise":
            raise
    finally:
        if bar is not None:
            bar.close()
    if not out.interrupted:
        save(k)
        if not out.converged:
            out.reason = f"{steps} steps"
    out.history, out.steps = hist.arrays(), k
    out.wall_time = time.perf_counter() - t0
    return out


def _restore(method: Iteration, data: dict[str, Any], hist: _History, path: str,
             steps: int) -> int:
    if "k" not in data or "meta" not in data:
        raise SolverError(f"cannot resume: {path!r} is not a checkpoint of an iterative run")
    meta = json.loads(str(data["meta"]))
    if meta.get("method") != method.name:
        raise SolverError(f"cannot resume {path!r} with {method.name}: it was written by "
                          f"{meta.get('method')!r}")
    mine = method.meta()
    changed = {key: (meta.get(key), v) for key, v in mine.items() if meta.get(key) != v}
    if changed:
        what = ", ".join(f"{key}={new!r} (checkpoint: {old!r})"
                         for key, (old, new) in changed.items())
        raise SolverError(f"cannot resume {path!r}: {what}; a resumed run continues the same "
                          "run (start a new one to change these)")
    k = int(data["k"])
    if k > steps:
        raise SolverError(f"cannot resume {path!r} to {steps} steps: it already has {k}")
    state = {key[len("state/"):]: v for key, v in data.items() if key.startswith("state/")}
    state.update({key[len("json/"):]: json.loads(str(v)) for key, v in data.items()
                  if key.startswith("json/")})
    method.load_state_dict(state)
    hist.load({key[len("history/"):]: v for key, v in data.items()
               if key.startswith("history/")})
    return k


def _finite_array(x: np.ndarray) -> bool:
    return bool(np.isfinite(np.sum(x))) or bool(np.all(np.isfinite(x)))


def finite(*arrays: np.ndarray | float) -> bool:
    """Whether every value is finite (one sum per array; the fallback decides overflow)."""
    return all(_finite_array(np.asarray(a)) for a in arrays)

