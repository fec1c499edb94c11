"""The NED examples run at a reduced size and NED beats its baseline on the same loss."""

import importlib.util
from pathlib import Path

import numpy as np

EXAMPLES = Path(__file__).parents[2] / "examples"


def _main(name: str, tmp_path: Path, **kwargs) -> dict:
    """Load ``examples/<name>.py``, run its ``main`` and check the figure it wrote."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.main(out=str(tmp_path), dpi=40, **kwargs)
    fig = Path(out["figure"])
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 5000
    return out


def test_ned_example_reduced(tmp_path):
    out = _main("ned_nonlinear_poisson", tmp_path, steps=15, baseline_steps=40, width=8,
                points=96)
    ned, adam = out["ned"], out["adam"]
    assert ned.error[-1] < 0.5
    assert ned.error[-1] < np.nanmin(adam.error)


def test_residual_example_reduced(tmp_path):
    for linesearch in ("trust", "grid"):
        out = _main("ned_heat_residual", tmp_path, steps=30, baseline_steps=40, width=12,
                    points=128, linesearch=linesearch)
        ned, lbfgs = out["ned"], out["lbfgs"]
        assert ned.error[-1] < 0.05 * ned.error[0], linesearch
        assert ned.error[-1] < np.nanmin(lbfgs.error), linesearch
