"""Strict inputs and nothing lost: problem files, CLI options, API arguments, the kernel
cache and checkpoints refuse nonsense with one clear nedsym error (each of these was once
ignored, accepted, or answered with a raw traceback)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import nedsym as ns
from nedsym.cli import main
from nedsym.errors import (
    BoundaryConditionError,
    CodegenError,
    ConfigError,
    DeclarationError,
    NedsymError,
    ParseError,
    SolverError,
)
from nedsym.runner import validate_spec

BASE = """energy = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"
coords = "x y"
t_end = 0.05
[params]
eps = 0.1
[grid]
shape = [12, 12]
"""


def _run_toml(tmp_path, text, capsys):
    f = tmp_path / "p.toml"
    f.write_text(text)
    rc = main(["run", str(f), "--out", str(tmp_path / "o"), "--no-progress",
               "--backend", "numpy"])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.mark.parametrize("edit,msg", [
    (("t_end = 0.05", 't_end = "abc"'), "t_end must be a number"),
    (("shape = [12, 12]", "shap = [12, 12]"), "unknown key 'shap' in [grid] (did you mean "
                                              "'shape'?)"),
    (("t_end = 0.05", "t_end = 0.05\nstepr = 'rk4'"), "unknown key 'stepr' in the problem "
                                                      "(did you mean 'stepper'?)"),
    (("eps = 0.1", "eps = nan"), "params.eps must be finite"),
    (("[params]\neps = 0.1", 'params = "eps=0.1"'), "params must be a table"),
    (("t_end = 0.05", "t_end = 0.05\nstepper = 'stabilized'"), "needs stabilization"),
    (("t_end = 0.05", "t_end = 0.05\nstepper = 'rk5'"), "unknown stepper 'rk5'"),
    (("t_end = 0.05", "t_end = 0.05\nboundary = '10*(u-1)^2'"), "boundary part"),
    (("shape = [12, 12]", "shape = [12, 0]"), "shape must be a list of integers >= 4"),
    (("shape = [12, 12]", "shape = [12, 12]\nbc = {x = 'periodic', z = 'neumann'}"),
     "not axes"),
])
def test_problem_files_are_checked_strictly(tmp_path, capsys, edit, msg):
    rc, out, err = _run_toml(tmp_path, BASE.replace(*edit), capsys)
    assert rc == 2 and msg in err and "Traceback" not in err, err


def test_initial_typos_are_refused_and_per_field_formulas_work(tmp_path, capsys):
    rc, _, err = _run_toml(tmp_path, BASE + "[initial]\namplitud = 0.1\n", capsys)
    assert rc == 2 and "did you mean 'amplitude'" in err
    two = BASE.replace('"eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"', '"|grad(u)|^2/2 + |grad(w)|^2/2"')
    two = two.replace('coords = "x y"', 'coords = "x y"\nfields = "u w"')
    two = two.replace("[params]\neps = 0.1\n", "")
    rc, out, err = _run_toml(tmp_path, two + '[initial]\nexpr = ["sin(2*pi*x)", "cos(2*pi*y)"]\n',
                             capsys)
    assert rc == 0, err
    rc, out, err = _run_toml(tmp_path, two + '[initial]\nexpr = ["sin(2*pi*x)"]\n', capsys)
    assert rc == 2 and "1 formulas for 2 fields" in err


def test_stabilized_stepper_runs_from_a_problem_file(tmp_path, capsys):
    text = BASE.replace("t_end = 0.05", "t_end = 0.05\nstepper = 'stabilized'\n"
                                        "stabilization = 2.0\ndt = 0.005")
    rc, out, err = _run_toml(tmp_path, text, capsys)
    assert rc == 0 and "done:" in out, err


def test_non_grid_demos_refuse_grid_options(capsys):
    assert main(["run", "ned-fit", "--n", "8", "--out", "/tmp/nedsym-unused"]) == 2
    assert "not a grid demo: --n" in capsys.readouterr().err


def test_validate_spec_names_the_key_at_fault():
    with pytest.raises(ConfigError, match="the problem needs the key 'grid'"):
        validate_spec({"energy": "u^2", "t_end": 1.0})
    with pytest.raises(ConfigError, match="accuracy must be 2, 4 or 6"):
        validate_spec({"energy": "u^2", "t_end": 1.0, "grid": {"shape": [8]}, "accuracy": 3})


@pytest.mark.parametrize("make,err,msg", [
    (lambda: ns.Energy.parse("eps*u_x^2", coords="x", params={"eps": float("nan")}),
     DeclarationError, "must be finite"),
    (lambda: ns.Energy.parse("eps*u_x^2", coords="x", params="eps=abc"),
     DeclarationError, "not a number"),
    (lambda: ns.Energy.parse("u_x^\uff12", coords="x"), ParseError, "unexpected character"),
    (lambda: ns.Energy.parse("\u0663*u_x^2", coords="x"), ParseError, "unexpected character"),
])
def test_api_refuses_nonsense_values(make, err, msg):
    with pytest.raises(err, match=msg):
        make()


def _sim(mobility=None):
    E = ns.Energy.parse("u_x^2/2 + (u^2-1)^2/4", coords="x")
    flow = ns.GradientFlow(E, mobility=mobility)
    return flow.discretize(ns.Grid(24, [(0, 1)]), backend="numpy")


def test_solve_refuses_unknown_options_and_bad_times():
    sim = _sim()
    y0 = sim.initial("random", seed=1)
    with pytest.raises(SolverError, match="unknown option 'rtoll' \\(did you mean 'rtol'"):
        sim.solve(y0, 0.1, rtoll=1e-3, progress=False)
    with pytest.raises(SolverError, match="finite t_end"):
        sim.solve(y0, "abc", progress=False)
    with pytest.raises(SolverError, match="rtol and atol"):
        sim.solve(y0, 0.1, stepper="rk45", rtol=-1, progress=False)


def test_negative_mobility_on_the_initial_state_is_refused():
    sim = _sim("1 - u^2")
    with pytest.raises(SolverError, match="mobility 1 - u\\(x\\)\\*\\*2 of field 'u' is "
                                          "negative"):
        sim.solve(sim.initial("random", amplitude=2.0), 0.01, progress=False)
    res = sim.solve(sim.initial("random", amplitude=0.5), 1e-3, progress=False)
    assert np.all(np.isfinite(res.final))


def test_boundary_specs_with_unknown_axes_are_refused():
    E = ns.Energy.parse("|grad(u)|^2/2", coords="x y")
    for bc, msg in (({"x": "periodic", "z": "neumann"}, "not axes"),
                    ({"z": "periodic"}, "neither fields")):
        with pytest.raises(BoundaryConditionError, match=msg):
            grid = ns.Grid((8, 8), [(0, 1), (0, 1)], bc=bc, axis_names=["x", "y"])
            ns.GradientFlow(E).discretize(grid, backend="numpy")


def test_sharded_points_need_a_client():
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    from nedsym.distributed.sharded import ShardedPoints

    with pytest.raises(NedsymError, match="need a distributed.Client"):
        ShardedPoints.sample(None, ns.Box([(0, 1)]), "sobol", 16, 2, 0)


# -- the kernel cache ----------------------------------------------------------------------
@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEDSYM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_edited_cached_kernels_are_replaced_and_files_are_shareable(fresh_cache):
    import sys

    from nedsym.codegen.cache import load_source, store_source

    src = "def f():\n    return 1\n"
    path = store_source(src, "trust", {})
    assert path.stat().st_mode & 0o044 == 0o044        # group and others may read
    path.write_text("def f():\n    return 2\n")         # a hand edit
    sys.modules.pop(path.stem, None)
    with pytest.warns(RuntimeWarning, match="does not match its hash"):
        mod = load_source(src, "trust", {})
    assert mod.f() == 1 and path.read_text() == src


def test_unwritable_cache_and_failed_clear_say_so(fresh_cache, monkeypatch):
    import shutil

    from nedsym.codegen import cache

    cache.store_source("x = 1\n", "trust", {})
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)   # nothing can be deleted
    with pytest.raises(CodegenError, match="0 of 1 kernel sources removed"):
        cache.cache_clear()
    monkeypatch.undo()
    blocker = fresh_cache.parent / "file"
    blocker.write_text("")
    monkeypatch.setenv("NEDSYM_CACHE_DIR", str(blocker))
    with pytest.raises(CodegenError, match="set NEDSYM_CACHE_DIR to a writable folder"):
        cache.store_source("x = 2\n", "trust", {})


# -- checkpoints ---------------------------------------------------------------------------
def test_corrupt_checkpoints_and_shared_paths(tmp_path):
    from nedsym.solve import integrate
    from nedsym.solve.checkpoint import write_npz

    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(SolverError, match="not a readable nedsym checkpoint"):
        integrate(lambda t, y, out: np.negative(y, out=out), np.ones(2), 1.0, dt=0.1,
                  resume=str(bad), progress=False)
    shared = tmp_path / "shared.npz"
    errors = []

    def writer(k):
        try:
            for _ in range(20):
                write_npz(shared, {"k": np.int64(k), "y": np.full(1000, k)})
        except Exception as exc:  # noqa: BLE001 - the test collects any failure
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with np.load(shared) as z:
        assert np.all(z["y"] == z["k"])


def test_blow_up_names_a_mobility_that_went_negative(monkeypatch):
    import nedsym.methods.grid as simulation

    sim = _sim("1 - u^2")
    bad_state = np.full((1, 24), 1.5)

    def exploding(*args, **kwargs):
        raise simulation.BlowUpError("the energy rose", state=bad_state, step=3)

    monkeypatch.setattr(simulation, "integrate", exploding)
    with pytest.raises(simulation.BlowUpError, match="mobility 1 - u\\(x\\)\\*\\*2 of field 'u' "
                                                     "is negative at 24 points"):
        sim.solve(sim.initial("random", amplitude=0.5), 0.1, progress=False)


def test_cli_stabilized_needs_and_takes_its_constant(tmp_path, capsys):
    base = ["run", "cahn-hilliard", "--n", "16", "--t-end", "1e-3", "--dt", "1e-4",
            "--no-progress", "--backend", "numpy", "--out", str(tmp_path)]
    assert main([*base, "--stepper", "stabilized"]) == 2
    assert "needs stabilization" in capsys.readouterr().err
    assert main([*base, "--stepper", "stabilized", "--stabilization", "2"]) == 0
    assert main([*base, "--stepper", "stabilized", "--stabilization", "nan"]) == 2
    assert "must be finite" in capsys.readouterr().err
