r"""Sums over sample points sharded across Dask workers.

Sampled quadrature and Neural Energy Descent need sums over many points,
:math:`\sum_i g(x_i)`, e.g. the normal equations :math:`J^TJ = \sum_i J_i^T J_i`,
:math:`J^Tr = \sum_i J_i^T r_i`. With the points split into shards :math:`S_1, \dots, S_m`
that stay on the workers, :math:`\sum_i g(x_i) = \sum_s \big(\sum_{i \in S_s} g(x_i)\big)`:
each worker computes its shards' partial sums and only those small results travel, added
pairwise on the workers; the client receives one value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nedsym.distributed.cluster import require_dask
from nedsym.errors import DistributedError

__all__ = ["ShardedPoints", "sharded_sum", "sharded_integrate", "add_results", "tree_sum"]


def add_results(a: Any, b: Any) -> Any:
    """Add two partial results of the same structure (numbers, arrays, tuples, lists, dicts).

    Example
    -------
    >>> add_results((np.ones(2), 3, {"n": 1}), (np.ones(2), 4, {"n": 2}))
    (array([2., 2.]), 7, {'n': 3})
    """
    if isinstance(a, dict):
        if set(a) != set(b):
            raise DistributedError(f"partial results have different keys {sorted(a)} and "
                                   f"{sorted(b)}")
        return {k: add_results(a[k], b[k]) for k in a}
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            raise DistributedError(f"partial results have lengths {len(a)} and {len(b)}")
        return type(a)(add_results(u, v) for u, v in zip(a, b, strict=True))
    return a + b


def _split(points: Any, n_shards: int) -> list[Any]:
    """Contiguous shards of an ``(n, d)`` array, a :class:`~nedsym.quadrature.Points` or a
    tuple of arrays with a common first axis."""
    from nedsym.quadrature.points import Points

    if isinstance(points, Points):
        n = points.n
        cuts = np.array_split(np.arange(n), n_shards)
        return [Points(points.x[c], points.w[c],
                       None if points.normals is None else points.normals[c]) for c in cuts]
    if isinstance(points, tuple):
        n = len(points[0])
        if any(len(a) != n for a in points):
            raise DistributedError("the arrays of a tuple of points need the same length")
        cuts = np.array_split(np.arange(n), n_shards)
        return [tuple(a[c] for a in points) for c in cuts]
    arr = np.asarray(points)
    if arr.ndim == 0:
        raise DistributedError("points must be an array (n, d), a Points or a tuple of arrays")
    return np.array_split(arr, n_shards)


def tree_sum(client, futures: list[Any]) -> Any:
    """Add futures pairwise on the workers; return the future of the total."""
    while len(futures) > 1:
        pairs = [client.submit(add_results, futures[i], futures[i + 1], pure=False)
                 for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            pairs.append(futures[-1])
        futures = pairs
    return futures[0]


@dataclass
class ShardedPoints:
    """Sample points that live on the workers, one future per shard.

    Make one with :meth:`scatter` (points you have) or :meth:`sample` (drawn on the workers,
    never present on the client); then :meth:`sum` any function over them repeatedly without
    moving the points again.

    Example
    -------
    >>> sp = ShardedPoints.scatter(client, X, n_shards=4)          # doctest: +SKIP
    >>> JtJ, Jtr, e, n = sp.sum(local_normal_equations)           # doctest: +SKIP
    """

    client: Any
    shards: list[Any]
    sizes: list[int]

    @property
    def n(self) -> int:
        """Total number of points."""
        return int(sum(self.sizes))

    @classmethod
    def scatter(cls, client, points: Any, n_shards: int | None = None) -> ShardedPoints:
        """Split ``points`` into ``n_shards`` contiguous shards (default: one per worker)
        and send each to a worker."""
        require_dask()
        from nedsym.distributed.cluster import require_client, worker_count

        client = require_client(client)
        n_shards = worker_count(client) if n_shards is None else int(n_shards)
        if n_shards < 1:
            raise DistributedError(f"n_shards must be >= 1, got {n_shards}")
        shards = _split(points, n_shards)
        sizes = [len(s[0]) if isinstance(s, tuple) else len(s) for s in shards]
        return cls(client, client.scatter(shards), sizes)

    @classmethod
    def sample(cls, client, domain, rule: str = "mc", n: int = 1024,
               n_shards: int | None = None, seed: int | None = None) -> ShardedPoints:
        r"""Draw ``n`` points of ``rule`` on ``domain`` directly on the workers.

        Shard ``s`` draws :math:`n_s` points from its own stream
        (``numpy.random.SeedSequence(seed).spawn``) and scales its weights by :math:`n_s/n`,
        so the union is an unbiased rule with :math:`\sum_i w_i f(x_i) \approx \int f`.
        """
        require_dask()
        from nedsym.distributed.cluster import require_client, worker_count

        client = require_client(client)
        n_shards = worker_count(client) if n_shards is None else int(n_shards)
        if n_shards < 1 or n < n_shards:
            raise DistributedError(f"need 1 <= n_shards <= n, got n_shards={n_shards}, n={n}")
        sizes = [len(c) for c in np.array_split(np.arange(n), n_shards)]
        seeds = np.random.SeedSequence(seed).spawn(n_shards)
        shards = [client.submit(_draw, domain, rule, m, n, s, pure=False)
                  for m, s in zip(sizes, seeds, strict=True)]
        return cls(client, shards, sizes)

    def map(self, fn: Callable[[Any], Any]) -> list[Any]:
        """Futures of ``fn(shard)``, one per shard (computed where the shard lives)."""
        return [self.client.submit(fn, s, pure=False) for s in self.shards]

    def sum(self, fn: Callable[[Any], Any]) -> Any:
        """:math:`\\sum_s fn(S_s)`; only the partial results travel."""
        return tree_sum(self.client, self.map(fn)).result()

    def gather(self) -> list[Any]:
        """The shards themselves (this moves all points to the client)."""
        return self.client.gather(self.shards)


def _draw(domain, rule: str, m: int, n: int, seed) -> Any:
    from nedsym.quadrature.points import Points

    pts = domain.points(m, rule, np.random.default_rng(seed))
    return Points(pts.x, pts.w * (m / n), pts.normals)


def sharded_sum(client, fn: Callable[[Any], Any], points: Any,
                n_shards: int | None = None) -> Any:
    r""":math:`\sum_s fn(S_s)` over shards :math:`S_s` of ``points``, computed on the workers.

    ``points``: an array ``(n, d)``, a :class:`~nedsym.quadrature.Points`, a tuple of arrays
    with a common first axis (split alike), or a :class:`ShardedPoints` (already on the
    workers: nothing is sent again). ``fn(shard)`` returns numbers, arrays, or tuples / lists
    / dicts of them; results are added elementwise. For Neural Energy Descent, ``fn`` is
    ``local_normal_equations(shard) -> (JtJ, Jtr, energy_sum, count)``.

    Example
    -------
    >>> total = sharded_sum(client, local_normal_equations, X, n_shards=8)  # doctest: +SKIP
    >>> JtJ, Jtr, energy_sum, count = total                               # doctest: +SKIP
    """
    require_dask()
    if not isinstance(points, ShardedPoints):
        points = ShardedPoints.scatter(client, points, n_shards)
    return points.sum(fn)


def _integrand_moments(f, coords, params, shard) -> tuple[float, float, int]:
    r""":math:`(\sum_i w_i f_i, \sum_i (w_i f_i)^2, n)` of one shard."""
    from nedsym.quadrature.integrate import make_evaluator

    evaluate = make_evaluator(f, shard.dim, shard.normals is not None, coords, params)
    total, var = evaluate(shard)
    n = shard.n
    # var = sum((n w f - total)^2)/(n - 1)  =>  sum((w f)^2) = (var (n - 1) + n total^2)/n^2
    squares = (var * (n - 1) + n * total**2) / n**2 if n > 1 else total**2
    return total, squares, n


def sharded_integrate(client, f, points: Any, n_shards: int | None = None, *, coords=None,
                      params=None, confidence: float = 0.95):
    r""":math:`\sum_i w_i f(x_i)` over sharded points with the i.i.d. standard error, equal to
    :func:`nedsym.quadrature.integrate_points` on all points at once.

    Each shard returns :math:`(\sum w_i f_i, \sum (w_i f_i)^2, n_s)`; with
    :math:`N = \sum n_s`, :math:`Y_i = N w_i f_i`, the sample variance is
    :math:`(N^2 \sum (w_i f_i)^2 - N \hat I^2)/(N-1)`.

    Example
    -------
    >>> est = sharded_integrate(client, x**2 + y**2, pts, n_shards=4)   # doctest: +SKIP
    """
    from nedsym.quadrature.integrate import _interval
    from nedsym.quadrature.points import IntegralEstimate

    require_dask()
    if not isinstance(points, ShardedPoints):
        from nedsym.quadrature.points import Points

        if not isinstance(points, Points):
            raise DistributedError("sharded_integrate needs Points (nodes and weights) or "
                                   "ShardedPoints")
        points = ShardedPoints.scatter(client, points, n_shards)

    def moments(shard):
        return _integrand_moments(f, coords, params, shard)

    total, sq, n = points.sum(moments)
    var = (n * n * sq - n * total**2) / (n - 1) if n > 1 else math.nan
    se = float(math.sqrt(max(var, 0.0) / n)) if n > 1 else None
    ci = _interval(total, se, n - 1, confidence) if se is not None else None
    return IntegralEstimate(float(total), se, ci, n, 1, n, "points", confidence)

