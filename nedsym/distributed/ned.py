"""Neural Energy Descent's sums over sample points sharded on a Dask cluster.

:class:`ClusterSums` is what ``NED(cluster=...)`` uses: the points of a step live on the
workers (drawn there, or scattered once), each worker evaluates
:meth:`nedsym.discretize.neural.SampledSystem.partial_sums` on its shards with raw weights,
the partial sums (P×P matrices and scalars) are added on the workers, and only the total
travels back; the least-squares solve stays on the client.

The shard system (the energy's kernels and the network, a few KB pickled) travels with every
task as bytes pickled once on the client and is rebuilt once per worker process (a small
cache keyed by a token). It is not a scattered, broadcast key: Dask's active memory manager
removes the replicas of such a key while tasks on other workers are about to fetch them, and
a run then failed with "lost dependencies" (seen on a 2-worker local cluster).
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict

import numpy as np

from nedsym.discretize.neural import SampledSystem
from nedsym.solve.iteration import NonFiniteStep

__all__ = ["ClusterSums"]


class ClusterSums:
    """A :class:`~nedsym.discretize.neural.SampledSystem` whose sums run on a Dask cluster.

    ``system``: the client's system (its ``pe``, ``net``, route and implicit flag are sent
    to every worker once, as a copy with ``raw_weights=True``); ``cluster``: a
    ``distributed.Client`` or a scheduler address; ``shards``: point shards (default one per
    worker). Samples are ``(ShardedPoints, (), ShardedPoints | None)``.
    """

    def __init__(self, system: SampledSystem, cluster, shards: int | None = None):
        from nedsym.distributed.cluster import require_dask, worker_count

        require_dask()
        if isinstance(cluster, str):
            from distributed import Client

            cluster = Client(cluster)
        self.client = cluster
        self.residual_kind = system.residual_kind
        self.n_shards = worker_count(cluster) if shards is None else int(shards)
        shard_system = SampledSystem(system.pe, system.net, residual=system.residual_kind,
                                     implicit=system.implicit, raw_weights=True)
        self.state = _Shipped(shard_system)

    def draw(self, sampler, bsampler, domain, resample: bool = True):
        """A sample on the workers: drawn there from ``domain`` (seeded from ``sampler``'s
        stream), or, with ``resample=False``, drawn here and scattered (the points of a
        local run)."""
        from nedsym.distributed.sharded import ShardedPoints

        if not resample:
            pts = ShardedPoints.scatter(self.client, sampler.draw(), self.n_shards)
            bpts = None if bsampler is None else ShardedPoints.scatter(
                self.client, bsampler.draw(), self.n_shards)
            return (pts, (), bpts)
        seed = int(sampler.rng.integers(2 ** 63))
        pts = ShardedPoints.sample(self.client, domain, sampler.rule.name, sampler.n,
                                   self.n_shards, seed)
        bpts = None
        if bsampler is not None:
            bpts = ShardedPoints.sample(self.client, domain.boundary(), bsampler.rule.name,
                                        bsampler.n, self.n_shards, seed + 1)
        return (pts, (), bpts)

    def _sum(self, what: str, theta, sample, dt=None) -> dict:
        from nedsym.distributed.sharded import tree_sum

        pts, _, bpts = sample
        futures = [self.client.submit(_shard_sums, self.state, theta, dt, (s, (), None), what,
                                      pure=False) for s in pts.shards]
        if bpts is not None:
            futures += [self.client.submit(_shard_sums, self.state, theta, dt, (None, (), s),
                                           what, pure=False) for s in bpts.shards]
        return tree_sum(self.client, futures).result()   # added on the workers

    def system(self, theta, sample, dt: float):
        """``("gram", G, g, measure)``: the normal equations of the whole sample."""
        out = self._sum("system", theta, sample, dt)
        W = out["W"]
        if not (np.all(np.isfinite(out["AtA"])) and np.all(np.isfinite(out["Atb"]))):
            raise NonFiniteStep("non-finite residual or Jacobian on a worker")
        g = out["Atb"] / W
        measure = math.sqrt(out["res2"] / W) if self.residual_kind == "strong" \
            else float(np.linalg.norm(g))
        return ("gram", out["AtA"] / W, g, measure)

    def merit(self, theta, sample) -> float:
        out = self._sum("merit", theta, sample)
        return out["value"] if self.residual_kind == "weak" else out["value"] / out["W"]

    def energy(self, theta, sample) -> float:
        return self._sum("energy", theta, sample)["value"]


class _Shipped:
    """An object pickled once here and rebuilt at most once per worker process
    (:meth:`get`): what every task of a run needs, sent with the tasks instead of as a
    scattered key."""

    def __init__(self, obj):
        import cloudpickle

        self.token = uuid.uuid4().hex
        self.blob = cloudpickle.dumps(obj)

    def get(self):
        # one lock for the cache and the rebuild: the threads of a worker that miss at once
        # wait for one rebuild instead of each unpickling (and compiling) its own copy
        with _REBUILT_LOCK:
            obj = _REBUILT.get(self.token)
            if obj is not None:
                _REBUILT.move_to_end(self.token)
                return obj
            import cloudpickle

            obj = _REBUILT[self.token] = cloudpickle.loads(self.blob)
            while len(_REBUILT) > _REBUILT_MAX:
                _REBUILT.popitem(last=False)
            return obj


#: the objects rebuilt in this (worker) process, by token, most recently used last
_REBUILT: OrderedDict = OrderedDict()
_REBUILT_LOCK = threading.Lock()
_REBUILT_MAX = 8


def _shard_sums(shipped: _Shipped, theta, dt, sample, what: str) -> dict:
    """Partial sums of one shard, on a worker (raw quadrature weights)."""
    return shipped.get().partial_sums(theta, sample, dt, what)
