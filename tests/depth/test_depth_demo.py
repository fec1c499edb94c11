"""The depth-ode demo (nedsym run depth-ode --quick) and the example script, reduced."""

import importlib.util
import json
from pathlib import Path

import pytest

from nedsym.apps.depth_demo import run_depth_demo
from nedsym.cli import main
from nedsym.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "depth_ode.py"


def test_cli_runs_depth_demo_quick(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert main(["run", "depth-ode", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    s = json.loads((tmp_path / "depth-ode_summary.json").read_text())
    assert s["fd_relative_error"] < 1e-6
    assert s["hamiltonian_drift"] < 1e-4
    assert 0.8 < s["near_identity_rate"] < 1.2
    assert all(v["monotone"] for v in s["width_depth"].values())
    for f in s["figures"]:
        assert (tmp_path / f).stat().st_size > 1000
    assert "done in" in capsys.readouterr().out


def test_demo_rejects_unknown_option(tmp_path):
    with pytest.raises(ConfigError, match="widht"):
        run_depth_demo(tmp_path, widht=3)


def test_example_runs_reduced(tmp_path):
    spec = importlib.util.spec_from_file_location("depth_ode_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # compiled=False: the compiled gradient has its own tests (tests/depth/test_depth_fused.py)
    out = module.main(str(tmp_path / "depth.png"), n=3, max_layers=32, train_iters=20,
                      compiled=False)
    assert Path(out).stat().st_size > 1000
