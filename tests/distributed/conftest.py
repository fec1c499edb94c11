"""One small Dask cluster (2 worker processes on loopback) shared by every distributed test."""

from __future__ import annotations

import pytest

pytest.importorskip("dask.array", reason="dask is not installed (the 'dask' extra)")
pytest.importorskip("distributed", reason="distributed is not installed (the 'dask' extra)")


@pytest.fixture(scope="session")
def client():
    from distributed import Client

    from nedsym.distributed import start_local_cluster

    cluster = start_local_cluster(2, threads_per_worker=1)
    c = Client(cluster)
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="session")
def demo_sims():
    """``get(name) -> (sim, y0)``: a built-in grid demo at 24 x 20 cells (built once) and a
    random initial state."""
    from nedsym.problems import demo
    from nedsym.runner import build_simulation

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            spec = demo(name)
            spec["grid"]["shape"] = [24, 20]
            _, _, sim = build_simulation(spec)
            cache[name] = (sim, sim.initial("random", seed=1, amplitude=0.5))
        return cache[name]

    return get
