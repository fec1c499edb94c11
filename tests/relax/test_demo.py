"""The relax-landscape demo (CLI) and examples/relax_landscape.py at reduced size."""

import importlib.util
import json
from pathlib import Path

from nedsym.cli import main

EXAMPLE = Path(__file__).parents[2] / "examples" / "relax_landscape.py"


def test_example_runs_reduced(tmp_path):
    spec = importlib.util.spec_from_file_location("relax_landscape", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(str(tmp_path / "relax.png"), cells=200, seeds=2, outer_steps=20)
    assert Path(out).stat().st_size > 1000


def test_cli_relax_landscape_quick(tmp_path, capsys):
    assert main(["run", "relax-landscape", "--quick", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    summary = json.loads((tmp_path / "relax-landscape_summary.json").read_text())
    assert summary["gd_1d_final"] < -0.95                      # the sharp well
    traj = summary["trajectories_2d"]
    assert len({v["grad_evals"] for v in traj.values()}) == 1   # equal effective epochs
    for name in summary["figures"]:
        assert (tmp_path / name).stat().st_size > 1000
    assert "done in" in capsys.readouterr().out
