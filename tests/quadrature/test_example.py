import importlib.util
from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "quadrature_convergence.py"


def test_convergence_example_runs_reduced(tmp_path):
    spec = importlib.util.spec_from_file_location("quadrature_convergence", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(str(tmp_path / "conv.png"), max_exp=7, seeds=2)
    assert Path(out).stat().st_size > 1000
