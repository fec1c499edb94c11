"""Running nedsym on a Dask cluster (``dask.array`` + ``dask.distributed``).

* Grid solves: ``sim.solve(y0, t_end, stepper="rk4", cluster=client)`` splits the state into
  chunks; every chunk runs the same generated kernel, halos are exchanged by dask's overlap
  (periodic included), ``k`` steps are fused per exchange (:mod:`nedsym.distributed.cost`),
  energy and residual are Dask reductions, checkpoints are written chunk-wise.
* Sampled sums: :func:`sharded_sum` evaluates a function on shards of sample points where
  they live and adds the (small) results, e.g. the normal equations of Neural Energy Descent.

Importing this package does not import dask; every function imports it when called and
raises :class:`~nedsym.errors.DistributedError` if it is missing.
"""

from nedsym.distributed.cluster import connect, start_local_cluster
from nedsym.distributed.cost import CostModel, choose_fuse, measure_costs
from nedsym.distributed.grid import normalize_chunks, solve
from nedsym.distributed.sharded import ShardedPoints, sharded_integrate, sharded_sum

__all__ = [
    "CostModel",
    "ShardedPoints",
    "choose_fuse",
    "connect",
    "measure_costs",
    "normalize_chunks",
    "sharded_integrate",
    "sharded_sum",
    "solve",
    "start_local_cluster",
]
