"""Matplotlib figures of fields and run histories (Agg-safe; every function returns a Figure)."""

from nedsym.plot.fields import plot_field, plot_snapshots
from nedsym.plot.histories import plot_energy, plot_errors, plot_residual
from nedsym.plot.movie import write_movie

__all__ = ["plot_field", "plot_snapshots", "plot_energy", "plot_residual", "plot_errors",
           "write_movie"]
