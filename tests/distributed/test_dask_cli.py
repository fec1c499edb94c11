"""``nedsym run DEMO --dask ADDRESS|local[N]`` and lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nedsym.cli import main


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    rc = main(["run", "allen-cahn", "--n", "16", "--stepper", "rk4", "--t-end", "2.0",
               "--no-progress", "--out", str(out), *extra])
    assert rc == 0
    return json.loads((out / "allen-cahn_summary.json").read_text())


def test_run_with_dask_scheduler_address(client, tmp_path):
    os.environ.setdefault("MPLBACKEND", "Agg")
    dist = _run(tmp_path, "dask", "--dask", client.scheduler.address)
    assert dist["stepper"] == "rk4" and dist["steps"] > 0
    assert dist["energy_monotone"] and dist["energy_final"] < dist["energy_initial"]
    assert all((tmp_path / "dask" / f).is_file() for f in dist["figures"])


def test_semi_implicit_demo_with_dask_names_the_fix(client, tmp_path, capsys):
    rc = main(["run", "cahn-hilliard", "--n", "16", "--t-end", "1e-4", "--no-progress",
               "--out", str(tmp_path), "--dask", client.scheduler.address])
    assert rc != 0
    assert "use an explicit stepper: 'euler' or 'rk4'" in capsys.readouterr().err


@pytest.mark.slow
def test_run_with_a_local_cluster(tmp_path):
    os.environ.setdefault("MPLBACKEND", "Agg")
    single = _run(tmp_path, "single")
    dist = _run(tmp_path, "local", "--dask", "local[2]")
    assert abs(dist["energy_final"] - single["energy_final"]) <= 1e-12


def test_importing_nedsym_does_not_import_dask():
    code = ("import sys, nedsym, nedsym.distributed, nedsym.methods.grid; "
            "print(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
