"""``nedsym codegen``: the written kernels, driver and README work without nedsym."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

import nedsym as ns
from nedsym.cli import main


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("backend,bc", [("numpy", "neumann"), ("numba", "dirichlet=0.3"),
                                        ("numpy", "periodic")])
def test_written_kernels_and_driver_match_nedsym(tmp_path, backend, bc, capsys):
    out = tmp_path / "k"
    rc = main(["codegen", "-o", str(out), "--grid", "12,10", "--backend", backend, "--bc", bc,
               "-p", "eps=0.1"])
    assert rc == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["README.md", "codegen.json", "driver.py", f"rhs_{backend}.py",
                            f"energy_{backend}.py"])
    head = (out / f"rhs_{backend}.py").read_text().splitlines()[:12]
    assert head[0].startswith("# rhs_") and any("δE/δu" in ln for ln in head)
    assert any("_P0_ = eps" in ln for ln in head)
    # the driver's ghost filler + kernels give nedsym's energy and right-hand side
    sys.path.insert(0, str(out))
    try:
        drv = _load(out / "driver.py", f"drv_{backend}_{bc.split('=')[0]}")
    finally:
        sys.path.remove(str(out))
    E = ns.Energy.parse("eps^2/2*|grad(u)|^2 + (u^2-1)^2/4", coords="x y", fields="u",
                        params={"eps": 0.1})
    kind, _, val = bc.partition("=")
    grid = ns.Grid((12, 10), [(0, 1), (0, 1)],
                   bc=ns.Dirichlet(float(val)) if kind == "dirichlet" else kind)
    sim = ns.GradientFlow(E).discretize(grid, backend="numpy")
    y = sim.initial("random", seed=2, amplitude=0.3)
    yp = np.zeros((1, 12 + 2 * drv.HALO, 10 + 2 * drv.HALO))
    yp[:, drv.HALO:-drv.HALO, drv.HALO:-drv.HALO] = y
    drv.fill_ghosts(yp)
    assert np.isclose(drv.energy(yp, *drv.SCALARS) * drv.CELL, sim.energy(y), rtol=1e-13)
    got, want = np.empty_like(y), np.empty_like(y)
    drv.rhs(yp, got, *drv.SCALARS)
    sim.rhs(0.0, y, want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # and it runs standalone: the energy falls
    proc = subprocess.run([sys.executable, str(out / "driver.py"), "40"], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    energies = [float(ln.split("E_h = ")[1]) for ln in proc.stdout.splitlines()]
    assert len(energies) >= 5 and all(np.diff(energies) < 0)


def test_gpu_backends_print_without_a_gpu_and_bad_input_is_refused(tmp_path, capsys):
    out = tmp_path / "gpu"
    assert main(["codegen", "-o", str(out), "--backend", "cupy", "--grid", "16"]) == 0
    assert "__global__" in (out / "rhs_cupy.py").read_text()
    assert not (out / "driver.py").exists()
    assert "GPU backend" in (out / "README.md").read_text()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    for argv, msg in [(["--grid", "0"], "--grid"), (["--grid", "8,8,8"], "--grid"),
                      (["--bc", "robin"], "--bc"), (["-o", str(tmp_path / "mine")], "other")]:
        args = ["codegen", "-o", str(tmp_path / "x")] + argv
        assert main(args) == 2
        assert msg in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep"
    assert main(["codegen", "-o", str(tmp_path / "y"), "--backend", "fortran"]) == 2
    assert "unknown backend 'fortran'" in capsys.readouterr().err
