"""Checkpoints: one ``.npz`` file holding everything needed to resume a run bit-for-bit.

Keys: ``y``, ``t``, ``t0``, ``t_end``, ``step``, ``dt``, ``dt_last``, ``rejected``,
``dt_history``, ``stepper/<key>`` (controller state, e.g. the PI error memory),
``tracker/<name>/<key>`` (histories, snapshots), ``rng_state`` (JSON of a
``numpy.random.Generator``'s bit-generator state, if one was given) and ``meta`` (JSON).
Files are written to a temporary name and renamed, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import os
import uuid
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from nedsym._version import __version__
from nedsym.errors import SolverError
from nedsym.solve.arrays import namespace, to_host
from nedsym.solve.steppers import Stepper
from nedsym.solve.trackers import RunState, Tracker

__all__ = ["save_checkpoint", "load_checkpoint", "restore", "write_npz", "read_npz",
           "check_writable"]


def save_checkpoint(path: str | os.PathLike, state: RunState, stepper: Stepper,
                    trackers: list[Tracker], rng: np.random.Generator | None = None,
                    meta: dict | None = None) -> Path:
    """Write a checkpoint of ``state`` (+ stepper, trackers, rng) to ``path`` atomically.

    ``meta``: JSON-able facts about the run (stepper, dt, t_end) that a resume checks."""
    path = Path(path)
    data: dict[str, Any] = {
        "y": to_host(state.y), "t": np.float64(state.t), "t0": np.float64(state.t0),
        "t_end": np.float64(state.t_end), "step": np.int64(state.step),
        "dt": np.float64(state.dt), "dt_last": np.float64(state.dt_last),
        "rejected": np.int64(state.rejected),
        "dt_history": np.asarray(state.dt_history, dtype=np.float64),
        "meta": np.array(json.dumps({**(meta or {}), "stepper": stepper.name,
                                     "version": __version__})),
    }
    for k, v in stepper.state_dict().items():
        data[f"stepper/{k}"] = np.float64(v)
    for tr in trackers:
        for k, v in tr.state_dict().items():
            data[f"tracker/{tr.name}/{k}"] = v
    if rng is not None:
        data["rng_state"] = np.array(json.dumps(rng.bit_generator.state))
    return write_npz(path, data)


def check_writable(path: str | os.PathLike) -> None:
    """Refuse a checkpoint path that cannot be written *before* the run starts."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise SolverError(f"checkpoint folder {folder!r} does not exist; create it or choose "
                          "another checkpoint path")
    if not os.access(folder, os.W_OK):
        raise SolverError(f"checkpoint folder {folder!r} is not writable")
    if os.path.isdir(path):
        raise SolverError(f"checkpoint path {path!r} is a folder; give a file name (.npz)")


def write_npz(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write ``data`` to ``path`` atomically: a temporary file of this process (so two runs
    sharing a path never write into each other's temporary), then a rename."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.npz")
    try:
        np.savez(tmp, **data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SolverError(f"cannot write checkpoint {str(path)!r}: {exc.strerror or exc}") \
            from None
    return path


def read_npz(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint file written by :func:`write_npz` (no pickles), or say why not."""
    path = Path(path)
    if not path.exists():
        raise SolverError(f"cannot resume: checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SolverError(f"cannot resume: {str(path)!r} is not a readable nedsym checkpoint "
                          f"({type(exc).__name__}); it may be truncated or another kind of "
                          "file: start a new run") from None


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint into a plain dict (arrays and scalars as stored)."""
    data = read_npz(path)
    if "y" not in data or "t" not in data:
        raise SolverError(f"cannot resume: {str(path)!r} is not a checkpoint of a time "
                          "integration (no state 'y' or time 't')")
    return data


def restore(data: dict[str, Any], state: RunState, stepper: Stepper, trackers: list[Tracker],
            rng: np.random.Generator | None) -> None:
    """Load checkpoint ``data`` into a fresh state, stepper, trackers and rng (in place)."""
    if data["y"].shape != state.y.shape:
        raise SolverError(
            f"checkpoint state has shape {data['y'].shape}, the run's state {state.y.shape}")
    state.y[...] = namespace(state.y).asarray(data["y"])
    state.t, state.t0 = float(data["t"]), float(data["t0"])
    state.step, state.rejected = int(data["step"]), int(data["rejected"])
    state.dt, state.dt_last = float(data["dt"]), float(data["dt_last"])
    state.dt_history = data["dt_history"].tolist()
    stepper.load_state_dict({k[len("stepper/"):]: float(v) for k, v in data.items()
                             if k.startswith("stepper/")})
    for tr in trackers:
        prefix = f"tracker/{tr.name}/"
        sub = {k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)}
        if sub:
            tr.load_state_dict(sub)
    if rng is not None and "rng_state" in data:
        rng.bit_generator.state = json.loads(str(data["rng_state"]))
