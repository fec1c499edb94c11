"""Every example in examples/ runs at a reduced size (NumPy reference kernels, no
compilation) and shows the physics its docstring promises."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.fixture(scope="module", autouse=True)
def _kernel_cache(fresh_kernel_cache):
    return fresh_kernel_cache


def _run(name: str, tmp_path: Path, **kwargs) -> dict:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(out=str(tmp_path), backend="numpy", dpi=50, **kwargs)
    fig = Path(out["figure"])
    assert fig.parent == tmp_path and fig.suffix == ".png"
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 5000
    assert out["result"].diagnostics["stop_reason"] == "t_end"
    return out


def _monotone(energy: np.ndarray, rtol: float = 1e-10) -> bool:
    return bool(np.all(np.diff(energy) <= rtol * abs(energy[0])))


def test_allen_cahn(tmp_path):
    res = _run("allen_cahn", tmp_path, n=32, t_end=6.0)["result"]
    assert _monotone(res.energy) and res.energy[-1] < 0.9 * res.energy[0]
    assert len(res.times) == 3 and res.times[-1] == pytest.approx(6.0)


def test_cahn_hilliard_conserves_mass_and_dissipates(tmp_path):
    out = _run("cahn_hilliard", tmp_path, n=32, t_end=2e-3)
    res, mass = out["result"], out["mass"]
    assert res.energy[-1] < res.energy[0]
    # semi-implicit split: the mean is kept up to the truncation error of the nonlinear
    # part (see docs/grids.md), far below the size of the field itself
    scale = np.abs(res.final).mean() * out["sim"].grid.volume
    assert np.abs(mass - mass[0]).max() < 1e-3 * scale


def test_energy_stable_schemes_keep_their_promises(tmp_path):
    out = _run("energy_stable", tmp_path, n=32, t_end=0.05)
    for name, res in out["runs"].items():
        assert abs(float(res.final.mean() - res.fields[0].mean())) < 1e-12, name
        assert res.energy[-1] < 0.8 * res.energy[0], name
    assert _monotone(out["runs"]["convex-split"].energy, 1e-11)
    ad = out["result"]
    assert ad.dt_history.max() > 100 * ad.dt_history.min()


def test_swift_hohenberg_forms_pattern(tmp_path):
    res = _run("swift_hohenberg", tmp_path, n=32, t_end=15.0)["result"]
    assert res.energy[-1] < res.energy[0]
    assert np.abs(res.final).max() > 0.3  # grown from noise of amplitude 0.1


def test_tv_denoise_reduces_error(tmp_path):
    out = _run("tv_denoise", tmp_path, n=32, t_end=1.0)
    assert out["rms"]["denoised"] < 0.7 * out["rms"]["noisy"]
    assert _monotone(out["result"].energy)


def test_heat_conserves_heat_with_insulated_walls(tmp_path):
    out = _run("heat", tmp_path, n=16, t_end=0.01)
    res, heat = out["result"], out["heat"]
    assert np.abs(heat - heat[0]).max() < 1e-12 * heat[0]
    assert _monotone(res.energy) and res.energy[-1] < 0.5 * res.energy[0]
    assert res.final.max() < 0.5 * res.fields[0].max()  # the bump spreads out
