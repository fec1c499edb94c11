import numpy as np
import pytest
import sympy as sp

from nedsym.depth import DepthODE, matrix, vector


def tanh_ode(n: int, running_cost: bool = False, backend: str = "numpy", time_dep=False):
    x, W, b = vector("x", n), matrix("W", n, n), vector("b", n)
    t = sp.Symbol("t", real=True)
    z = W * x + b
    if time_dep:
        z = z + sp.ImmutableMatrix([sp.sin(t)] * n)
    L = None
    if running_cost:
        L = sum(x[i] ** 2 for i in range(n)) / 4 + sum(W[i, i] ** 2 for i in range(n)) / 2
    return DepthODE(x, z.applyfunc(sp.tanh), [W, b], L, time=t, backend=backend), W, b


def random_problem(ode, W, b, n, steps, B=5, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    theta = ode.pack({W: scale * rng.normal(size=(steps, n, n)) / np.sqrt(n),
                      b: 0.3 * rng.normal(size=(steps, n))}, steps=steps)
    return theta, rng.normal(size=(B, n)), rng.normal(size=(B, n))


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory, monkeypatch):
    import os
    if "NEDSYM_CACHE_DIR" not in os.environ:
        monkeypatch.setenv("NEDSYM_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
