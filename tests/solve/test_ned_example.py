"""The NED example runs at a reduced size and NED beats Adam on the same energy."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).parents[2] / "examples" / "ned_nonlinear_poisson.py"


def test_ned_example_reduced(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("ned_example", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(steps=15, baseline_steps=40, out=str(tmp_path), dpi=40, width=8, points=96)
    fig = Path(out["figure"])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 5000
    ned, adam = out["ned"], out["adam"]
    assert ned.error[-1] < 0.5
    assert ned.error[-1] < np.nanmin(adam.error)


def test_residual_example_reduced(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "ned_heat_example", EXAMPLE.parent / "ned_heat_residual.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(steps=30, baseline_steps=40, out=str(tmp_path), dpi=40, width=12, points=128)
    fig = Path(out["figure"])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 5000
    ned, lbfgs = out["ned"], out["lbfgs"]
    assert ned.error[-1] < 0.05 * ned.error[0]
    assert ned.error[-1] < np.nanmin(lbfgs.error)
