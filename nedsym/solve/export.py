"""Results in the ecosystem's formats: xarray Datasets, netCDF and zarr files.

:func:`to_xarray` turns a :class:`~nedsym.solve.Result` into an ``xarray.Dataset``: one
variable per field over ``(time, *coordinates)`` with the cell-centre coordinates, the final
state, the energy, residual and step-size histories on their own time axes, and the run's
description (energy, derived equations, parameters, grid, stepper, diagnostics) as
attributes. :func:`save` writes it as netCDF (``.nc``) or zarr (``.zarr``, chunked along
time; the final state of a Dask run with ``gather=False`` stays on the cluster and is written
chunk by chunk from the workers); :func:`load` reads a file back, and :func:`from_xarray`
rebuilds a Result with the same arrays. xarray (and netCDF4 or zarr) are optional:
``pip install "nedsym[io]"``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nedsym.errors import ConfigError
from nedsym.solve.result import Result

__all__ = ["from_xarray", "load", "save", "to_xarray"]


def _xarray():
    try:
        import xarray
    except ImportError as exc:
        raise ConfigError("saving results needs xarray (pip install \"nedsym[io]\": xarray, "
                          "netCDF4, zarr)") from exc
    return xarray


def _attr(value):
    """A netCDF-safe attribute value (str, number or a JSON string)."""
    if isinstance(value, (str, int, float, np.integer, np.floating)) and \
            not isinstance(value, bool):
        return value
    return json.dumps(value, default=str)


def to_xarray(res: Result):
    """The run as an ``xarray.Dataset`` (see the module docs).

    ``res.metadata`` (set by :meth:`Simulation.solve`) gives the field names, coordinates
    and description; without it the axes are ``dim_0, dim_1, ...`` and the fields
    ``field_0, ...``.
    """
    xr = _xarray()
    meta = dict(getattr(res, "metadata", {}) or {})
    shape = res.final.shape
    names = list(meta.get("fields") or [f"field_{i}" for i in range(shape[0])])
    dims = list(meta.get("dims") or [f"dim_{k}" for k in range(len(shape) - 1)])
    coords = {d: np.asarray(v) for d, v in (meta.get("coords") or {}).items()}
    coords["time"] = np.asarray(res.times, dtype=float)
    variables = {}
    fields = np.asarray(res.fields)
    # a Dask run with gather=False leaves its final state on the cluster: keep it lazy, so a
    # zarr store is written chunk by chunk from the workers
    final = res.final if hasattr(res.final, "__dask_graph__") else np.asarray(res.final)
    for i, f in enumerate(names):
        variables[f] = (("time", *dims), fields[:, i] if fields.size else
                        np.zeros((0, *shape[1:])))
        variables[f"{f}_final"] = (tuple(dims), final[i])
    variables["energy"] = (("energy_time",), np.asarray(res.energy, dtype=float))
    coords["energy_time"] = np.asarray(res.energy_times, dtype=float)
    variables["residual"] = (("residual_time",), np.asarray(res.residual, dtype=float))
    coords["residual_time"] = np.asarray(res.residual_times, dtype=float)
    variables["dt"] = (("step",), np.asarray(res.dt_history, dtype=float))
    attrs = {"nedsym_result": 1, "fields": json.dumps(names), "t_final": res.t_final,
             "diagnostics": json.dumps({k: v for k, v in res.diagnostics.items()
                                        if not isinstance(v, np.ndarray)}, default=str)}
    attrs.update({k: _attr(v) for k, v in (meta.get("attrs") or {}).items()})
    ds = xr.Dataset(variables, coords=coords, attrs=attrs)
    for f in names:
        ds[f].attrs["long_name"] = f"field {f}"
    ds["energy"].attrs["long_name"] = "discrete energy E_h"
    ds["dt"].attrs["long_name"] = "accepted step sizes"
    return ds


def from_xarray(ds) -> Result:
    """A :class:`~nedsym.solve.Result` with the arrays of a Dataset from :func:`to_xarray`."""
    if not ds.attrs.get("nedsym_result"):
        raise ConfigError("this dataset was not written by nedsym (no 'nedsym_result' "
                          "attribute)")
    names = json.loads(ds.attrs["fields"])
    fields = np.stack([ds[f].values for f in names], axis=1) if len(ds["time"]) else \
        np.zeros((0, len(names), *ds[f"{names[0]}_final"].shape))
    final = np.stack([ds[f"{f}_final"].values for f in names])
    diag = json.loads(ds.attrs.get("diagnostics", "{}"))
    res = Result(fields=fields, times=ds["time"].values, final=final,
                 energy=ds["energy"].values, energy_times=ds["energy_time"].values,
                 residual=ds["residual"].values, residual_times=ds["residual_time"].values,
                 dt_history=ds["dt"].values, diagnostics=diag)
    dims = [d for d in ds[f"{names[0]}_final"].dims]
    res.metadata = {"fields": names, "dims": dims,
                    "coords": {d: ds[d].values for d in dims if d in ds.coords},
                    "attrs": {k: v for k, v in ds.attrs.items()
                              if k not in ("nedsym_result", "fields", "diagnostics")}}
    return res


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".nc", ".nc4", ".netcdf"):
        return "netcdf"
    if suffix == ".zarr":
        return "zarr"
    raise ConfigError(f"cannot tell the format of {str(path)!r}: use a .nc (netCDF) or "
                      ".zarr name")


def save(res: Result, path: str | Path, chunk_time: int | None = None) -> Path:
    """Write ``res`` as netCDF (``.nc``) or zarr (``.zarr``; chunked along time, one
    snapshot per chunk unless ``chunk_time``). Returns the path."""
    path = Path(path)
    kind = _kind(path)
    ds = to_xarray(res)
    if kind == "netcdf":
        try:
            ds.to_netcdf(path)
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"cannot write netCDF {str(path)!r}: {exc} (pip install "
                              "netCDF4)") from exc
        return path
    try:
        import zarr  # noqa: F401
    except ImportError as exc:
        raise ConfigError("writing .zarr needs zarr (pip install zarr)") from exc
    step = max(1, int(chunk_time or 1))
    encoding = {v: {"chunks": (step, *ds[v].shape[1:])} for v in json.loads(ds.attrs["fields"])
                if ds[v].shape[0] > 0}
    for v in json.loads(ds.attrs["fields"]):       # a lazy (Dask) final state: its own chunks
        data = ds[f"{v}_final"].data
        if hasattr(data, "chunks") and hasattr(data, "__dask_graph__"):
            encoding[f"{v}_final"] = {"chunks": tuple(c[0] for c in data.chunks)}
    ds.to_zarr(path, mode="w", encoding=encoding, consolidated=False)
    return path


def load(path: str | Path) -> Result:
    """Read a run written by :func:`save` back as a Result (the same arrays)."""
    xr = _xarray()
    path = Path(path)
    kind = _kind(path)
    if not path.exists():
        raise ConfigError(f"no such file or folder: {str(path)!r}")
    ds = xr.open_dataset(path) if kind == "netcdf" else xr.open_zarr(path, consolidated=False)
    with ds:
        return from_xarray(ds.load())
