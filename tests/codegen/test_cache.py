import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from kernels import allen_cahn_2d

from nedsym.codegen import cache_clear, cache_info, compile_kernel
from nedsym.codegen.cache import cache_dir, cache_key, load_source


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NEDSYM_CACHE_DIR", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("NEDSYM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "nedsym"


def test_cache_key_depends_on_source_options_and_versions(monkeypatch):
    base = cache_key("src", {"backend": "numba", "dtype": "float64"})
    assert base == cache_key("src", {"dtype": "float64", "backend": "numba"})
    assert base != cache_key("src2", {"backend": "numba", "dtype": "float64"})
    assert base != cache_key("src", {"backend": "numba", "dtype": "float32"})
    assert base != cache_key("src", {"backend": "numpy", "dtype": "float64"})
    monkeypatch.setattr("nedsym.codegen.cache.__version__", "99.0")
    assert base != cache_key("src", {"backend": "numba", "dtype": "float64"})


def test_source_written_once_and_info_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("NEDSYM_CACHE_DIR", str(tmp_path))
    k = compile_kernel(allen_cahn_2d(), "numpy")
    path = Path(k.path)
    assert path.parent == tmp_path / "kernels" and path.read_text() == k.source()
    stamp = path.stat().st_mtime_ns
    load_source(k.source(), k.ir.name, {"backend": "numpy", "dtype": "float64"})
    assert path.stat().st_mtime_ns == stamp  # never rewritten: numba's index stays valid
    info = cache_info()
    assert info["dir"] == str(tmp_path) and info["kernels"] == 1 and info["bytes"] > 0
    assert cache_clear() == 1
    assert cache_info()["kernels"] == 0


_CHILD = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    sys.path.insert(0, {here!r})
    import numpy as np
    from kernels import allen_cahn_2d
    from nedsym.codegen import compile_kernel, make_euler_loop
    ir = allen_cahn_2d()
    k = compile_kernel(ir, "numba", check=False)
    loop = make_euler_loop(ir, check=False)
    yp = np.random.default_rng(0).uniform(-1, 1, (1, 34, 34))
    t1 = time.perf_counter()
    loop(yp, np.empty_like(yp), 1, 1e-4, np.zeros((1, 2, 2), np.int64), np.zeros((1, 2, 2)),
         0.3, 0.1, 0.1)
    k(yp, np.empty((1, 32, 32)), 0.3, 0.1, 0.1)
    t2 = time.perf_counter()
    print(json.dumps({{"hits": sum(loop.function.stats.cache_hits.values())
                              + sum(k.function.stats.cache_hits.values()),
                      "misses": sum(loop.function.stats.cache_misses.values()),
                      "first_calls_s": t2 - t1, "total_s": t2 - t0}}))
""")


def _run_child(cache):
    env = dict(os.environ, NEDSYM_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", _CHILD.format(here=str(Path(__file__).parent))],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_second_process_starts_without_recompiling(tmp_path):
    cold = _run_child(tmp_path)
    assert cold["hits"] == 0
    warm = _run_child(tmp_path)
    assert warm["hits"] == 2 and warm["misses"] == 0
    assert warm["first_calls_s"] < 1.0, warm
    assert list((tmp_path / "kernels" / "__pycache__").glob("*.nbi"))


def test_threads_loading_one_module_at_once_get_it_whole(monkeypatch, tmp_path):
    """A module is in sys.modules before its body has run: a second thread loading the same
    source then must wait for it, not take it half-defined."""
    import threading

    monkeypatch.setenv("NEDSYM_CACHE_DIR", str(tmp_path))
    src = "import time\ntime.sleep(0.3)\nVALUE = 42\n"
    got, errors = [], []

    def load():
        try:
            got.append(load_source(src, "slow_body", {"test": "threads"}).VALUE)
        except Exception as exc:  # noqa: BLE001 - the failure is the result
            errors.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == [] and got == [42] * 4


def test_a_module_whose_body_fails_is_not_left_imported(monkeypatch, tmp_path):
    monkeypatch.setenv("NEDSYM_CACHE_DIR", str(tmp_path))
    src = "raise RuntimeError('broken body')\n"
    for _ in range(2):  # the second load runs the body again instead of returning a husk
        try:
            load_source(src, "broken_body", {})
        except RuntimeError as exc:
            assert "broken body" in str(exc)
        else:
            raise AssertionError("the broken module loaded")
