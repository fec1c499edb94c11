"""Generated numba-cuda kernels run in numba's CUDA simulator against the NumPy reference.

The simulator must be switched on before numba is imported, so every check runs in a
subprocess with ``NUMBA_ENABLE_CUDASIM=1``; it runs each thread as a Python thread, so grids
are small (16 cells a side, 8 in 3-D).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                                reason="numba-cuda is not installed (pip install numba-cuda)")

SCRIPT = textwrap.dedent('''
    import json, sys
    import numpy as np
    import nedsym as ns
    from nedsym.codegen import available

    ok, why = available()["numba-cuda"]
    assert ok and "simulator" in why, why
    AC = "eps^2/2*|grad(u)|^2 + (u^2-1)^2/4"
    cases = json.loads(sys.argv[1])
    report = []
    for metric, ndim, bc, dtype in cases:
        names = "x y z"[: 2 * ndim - 1]
        E = ns.Energy.parse(AC, coords=names, fields="u", params={"eps": 0.3})
        flow = ns.GradientFlow(E, metric=metric)
        n = 16 if ndim < 3 else 8
        grid = ns.Grid((n,) * ndim, [(0, 2 * np.pi)] * ndim, bc=bc)
        ref = flow.discretize(grid, backend="numpy", dtype=dtype)
        sim = flow.discretize(grid, backend="numba-cuda", dtype=dtype, check=False)
        y = ref.initial("random", seed=1, amplitude=0.8)
        a, b = np.empty_like(y), np.empty_like(y)
        ref.rhs(0.0, y, a)
        sim.rhs(0.0, y, b)
        scale = float(np.abs(a).max())
        row = {"case": [metric, ndim, bc, dtype], "rhs_err": float(np.abs(a - b).max()) / scale,
               "energy": [ref.energy(y), sim.energy(y)], "dtype": str(b.dtype)}
        if metric == "L2" and bc == "periodic":
            dt = 0.2 * ref.stable_dt()
            ya = ref.run_euler(y, 3, dt) if dtype == "float64" else None
            yb = sim.run_euler(y, 3, dt)
            if ya is None:   # the numpy reference steps in the same dtype
                ya = y.copy()
                for _ in range(3):
                    ref.rhs(0.0, ya, a)
                    ya = ya + np.float32(dt) * a
            row["euler_err"] = float(np.abs(ya - yb).max())
            res = sim.solve(y, t_end=2 * dt, stepper="rk4", dt=dt, progress=False)
            res0 = ref.solve(y, t_end=2 * dt, stepper="rk4", dt=dt, progress=False)
            row["solve_err"] = float(np.abs(res.final - res0.final).max())
        report.append(row)
    print("REPORT" + json.dumps(report))
''')


def _run(cases, tmp_path):
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", NEDSYM_CACHE_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(cases)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT")][-1]
    return json.loads(line[len("REPORT"):])


RTOL = {"float64": 1e-12, "float32": 1e-5}


def _check(rows):
    for row in rows:
        dtype = row["case"][3]
        assert row["dtype"] == dtype, row
        assert row["rhs_err"] < RTOL[dtype], row
        e_ref, e_gpu = row["energy"]
        assert abs(e_ref - e_gpu) <= RTOL[dtype] * max(1.0, abs(e_ref)), row
        if "euler_err" in row:
            assert row["euler_err"] < 10 * RTOL[dtype], row
            assert row["solve_err"] < 10 * RTOL[dtype], row


def test_allen_cahn_and_cahn_hilliard_rhs_match_numpy(tmp_path):
    _check(_run([["L2", 2, "periodic", "float32"], ["H-1", 2, "neumann", "float32"],
                 ["H-1", 1, "periodic", "float64"], ["L2", 3, "neumann", "float32"]], tmp_path))


@pytest.mark.slow
def test_more_dimensions_dtypes_and_boundaries(tmp_path):
    _check(_run([["L2", 2, "periodic", "float64"], ["L2", 1, "neumann", "float32"],
                 ["H-1", 3, "periodic", "float64"], ["H-1", 2, "periodic", "float32"]],
                tmp_path))
