"""Neural Energy Descent with its sums sharded over Dask workers equals the local run."""

import numpy as np
import pytest

from nedsym.apps.ned_demo import fit_problem, poisson_problem
from nedsym.errors import ConfigError


@pytest.mark.parametrize("make, options, rtol", [
    (fit_problem, {}, 1e-9),
    (poisson_problem, {"residual": "weak", "stepper": "euler", "dt": 0.01, "ridge": 1e-3}, 1e-9),
    # strong implicit Poisson: cond(G) ~ 1/ridge amplifies the summation order's round-off
    (poisson_problem, {}, 1e-5),
])
def test_cluster_run_equals_local_run_on_the_same_points(client, make, options, rtol):
    local = make(resample=False, **options)
    sharded = make(resample=False, cluster=client, shards=3, **options)
    r_local, r_sharded = local.run(4), sharded.run(4)
    scale = np.abs(local.theta).max()
    assert np.abs(local.theta - sharded.theta).max() <= rtol * scale
    np.testing.assert_allclose(r_sharded.energy, r_local.energy, rtol=max(rtol, 1e-12))


def test_points_drawn_on_the_workers_converge(client):
    ned = poisson_problem(cluster=client)
    res = ned.run(30)
    assert res.error[-1] < 1e-2 < res.error[0]


def test_cluster_refuses_what_needs_all_rows(client):
    with pytest.raises(ConfigError, match="cholesky"):
        poisson_problem(cluster=client, solver="svd")
    with pytest.raises(ConfigError, match="one machine"):
        poisson_problem(cluster=client).baseline("adam", 2)
    with pytest.raises(ConfigError, match="cannot be checkpointed"):
        poisson_problem(cluster=client).run(2, checkpoint="/tmp/nedsym-unused.npz")


def test_the_shard_system_travels_with_the_tasks_not_as_a_broadcast_key(client):
    # a broadcast key lost its replicas to Dask's active memory manager while tasks on the
    # other worker were fetching it: 1 run in 12 of the test above failed, "lost dependencies"
    ned = poisson_problem(cluster=client)
    ned.run(2)
    from nedsym.distributed.ned import _Shipped

    assert isinstance(ned._cluster.state, _Shipped)   # bytes, not a future
    held = [k for k in client.who_has() if "SampledSystem" in str(k)]
    assert held == []


def test_shipped_objects_are_rebuilt_once_per_process_and_the_cache_is_bounded():
    from nedsym.distributed import ned as mod

    first = mod._Shipped({"a": 1})
    assert first.get() is first.get()              # rebuilt once, then the cached object
    for i in range(mod._REBUILT_MAX):
        mod._Shipped({"i": i}).get()
    assert first.token not in mod._REBUILT         # the least recently used went first
    assert first.get() == {"a": 1}                 # and comes back from its bytes


def test_threads_that_miss_at_once_share_one_rebuild():
    import threading

    from nedsym.distributed import ned as mod

    shipped, got = mod._Shipped(["payload"]), []
    start = threading.Barrier(6)

    def worker():
        start.wait()
        got.append(shipped.get())
    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(got) == 6 and all(g is got[0] for g in got)
