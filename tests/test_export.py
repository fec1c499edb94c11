"""Saved results: xarray Datasets, netCDF and zarr round trips, `nedsym run --save`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nedsym as ns
from nedsym.errors import ConfigError
from nedsym.solve.export import from_xarray, load

xr = pytest.importorskip("xarray", reason="xarray is an optional extra (pip install "
                                          "'nedsym[io]')")


@pytest.fixture(scope="module")
def run():
    E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y", fields="u",
                        params={"eps": 0.1})
    sim = ns.GradientFlow(E).discretize(ns.Grid((12, 8), [(0, 2), (0, 1)], bc="neumann"),
                                        backend="numpy")
    y0 = sim.initial("random", seed=0, amplitude=0.3)
    return sim, sim.solve(y0, 0.05, stepper="rk4", dt=5e-3, snapshot_times=[0.02, 0.05],
                          progress=False, energy_every=1)


def test_to_xarray_names_coordinates_and_describes_the_run(run):
    sim, res = run
    ds = res.to_xarray()
    assert ds["u"].dims == ("time", "x", "y") and ds["u"].shape == (2, 12, 8)
    np.testing.assert_allclose(ds["x"].values, sim.grid.axes[0])
    np.testing.assert_array_equal(ds["u"].values, res.fields[:, 0])
    np.testing.assert_array_equal(ds["energy"].values, res.energy)
    assert ds.attrs["param_eps"] == 0.1 and "u**3" in ds.attrs["rhs_u"]
    assert ds.attrs["stepper"] == "rk4" and json.loads(ds.attrs["diagnostics"])["steps"] == 10


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_round_trip_gives_the_same_arrays(run, tmp_path, suffix):
    if suffix == ".zarr":
        pytest.importorskip("zarr", reason="zarr is an optional extra")
    else:
        pytest.importorskip("netCDF4", reason="netCDF4 is an optional extra")
    _, res = run
    path = res.save(tmp_path / f"run{suffix}")
    back = load(path)
    for name in ("fields", "times", "final", "energy", "energy_times", "dt_history"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    assert back.diagnostics["steps"] == res.diagnostics["steps"]
    assert back.metadata["dims"] == ["x", "y"] and back.metadata["fields"] == ["u"]
    np.testing.assert_array_equal(back.metadata["coords"]["y"], res.metadata["coords"]["y"])


def test_bad_paths_and_foreign_datasets_are_refused(run, tmp_path):
    _, res = run
    with pytest.raises(ConfigError, match=".nc"):
        res.save(tmp_path / "run.h5")
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.nc")
    with pytest.raises(ConfigError, match="not written by nedsym"):
        from_xarray(xr.Dataset({"a": ("t", np.zeros(2))}))


def test_cli_run_save(tmp_path):
    pytest.importorskip("netCDF4", reason="netCDF4 is an optional extra")
    from nedsym.cli import main

    out = tmp_path / "out"
    rc = main(["run", "heat", "--n", "16", "--no-progress", "--backend", "numpy", "--out",
               str(out), "--save", str(tmp_path / "heat.nc")])
    assert rc == 0
    back = load(tmp_path / "heat.nc")
    summary = json.loads((out / "heat_summary.json").read_text())
    assert summary["saved"].endswith("heat.nc") and back.fields.shape[0] >= 2
    assert np.isclose(back.energy[-1], summary["energy_final"])
    assert main(["run", "heat", "--n", "16", "--out", str(out), "--save",
                 str(tmp_path / "heat.h5")]) == 2
