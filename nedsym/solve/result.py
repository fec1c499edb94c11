"""The outcome of a time integration."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Result"]


@dataclass
class Result:
    """Snapshots, histories and diagnostics of one :func:`~nedsym.solve.integrate` run.

    Attributes
    ----------
    fields: snapshots, shape ``(len(times), *state shape)``.
    times: snapshot times.
    energy, energy_times: energy history (empty when no energy was given).
    residual, residual_times: residual-norm history (empty unless tracked).
    dt_history: the step size of every accepted step.
    diagnostics: ``steps``, ``rejected_steps``, ``wall_time``, ``stepper``, ``interrupted``,
        ``stop_reason`` (``"t_end" | "steady" | "max_steps" | "interrupted"``), ``t``;
        a grid solve that made the compiled step loop's first call adds ``compile_s``, the
        part of ``wall_time`` it took (compiling or loading the kernel, and its check).
    final: the state at the last accepted step.
    metadata: field and coordinate names, coordinates and a description (grid runs).

    Example
    -------
    >>> r = Result(fields=np.zeros((1, 2)), times=np.zeros(1), final=np.zeros(2))
    >>> r.t_final
    0.0
    """

    fields: np.ndarray
    times: np.ndarray
    final: np.ndarray
    energy: np.ndarray = field(default_factory=lambda: np.zeros(0))
    energy_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    residual: np.ndarray = field(default_factory=lambda: np.zeros(0))
    residual_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    dt_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    diagnostics: dict[str, Any] = field(default_factory=dict)
    # what the method knows of the state: field names, coordinate names and arrays,
    # description attributes (set by Simulation.solve; used by to_xarray)
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_xarray(self):
        """The run as an ``xarray.Dataset`` (:func:`nedsym.solve.export.to_xarray`)."""
        from nedsym.solve.export import to_xarray

        return to_xarray(self)

    def save(self, path, chunk_time: int | None = None):
        """Write the run as netCDF (``.nc``) or zarr (``.zarr``); read it back with
        :func:`nedsym.solve.export.load` (:func:`nedsym.solve.export.save`)."""
        from nedsym.solve.export import save

        return save(self, path, chunk_time)

    @property
    def t_final(self) -> float:
        """Time of the final state."""
        return float(self.diagnostics.get("t", self.times[-1] if len(self.times) else 0.0))

    @property
    def interrupted(self) -> bool:
        """Whether the run stopped on Ctrl-C (a partial result)."""
        return bool(self.diagnostics.get("interrupted", False))

    def to_json(self) -> str:
        """A JSON summary: diagnostics, sizes, first/last energy and residual (no arrays)."""

        def _last(a: np.ndarray) -> float | None:
            return float(a[-1]) if len(a) else None

        summary = {
            "diagnostics": {k: (v.item() if isinstance(v, np.generic) else v)
                            for k, v in self.diagnostics.items()},
            "state_shape": list(self.final.shape),
            "n_snapshots": int(len(self.times)),
            "snapshot_times": [float(t) for t in self.times],
            "energy_initial": float(self.energy[0]) if len(self.energy) else None,
            "energy_final": _last(self.energy),
            "residual_final": _last(self.residual),
            "dt_min": float(np.min(self.dt_history)) if len(self.dt_history) else None,
            "dt_max": float(np.max(self.dt_history)) if len(self.dt_history) else None,
        }
        return json.dumps(summary)

    def __repr__(self) -> str:
        d = self.diagnostics
        return (f"Result(t={self.t_final:.6g}, steps={d.get('steps')}, "
                f"snapshots={len(self.times)}, stop_reason={d.get('stop_reason')!r})")
