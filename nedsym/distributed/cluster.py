"""Connecting to a Dask cluster: an existing ``Client``, a scheduler address, or ``local[N]``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from nedsym.errors import DistributedError

__all__ = ["connect", "require_dask", "start_local_cluster"]

_LOCAL = re.compile(r"^local(?:\[(\d+)\])?$")


def require_dask() -> None:
    """Raise :class:`~nedsym.errors.DistributedError` if dask/distributed are missing."""
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise DistributedError(
            f"distributed runs need dask and distributed ({exc}); install them with "
            "`pip install 'dask[array]' distributed` (or the nedsym 'dask' extra)") from exc


def start_local_cluster(n_workers: int = 2, threads_per_worker: int = 1, **kwargs: Any):
    """A :class:`distributed.LocalCluster` of worker *processes* on the loopback interface.

    The dashboard listens on a free port (``client.dashboard_link``). The chunk tasks of a
    distributed solve give their numba kernels ``cpu_count // (worker threads on the host)``
    threads, so the workers do not oversubscribe the cores.

    Example
    -------
    >>> cluster = start_local_cluster(2)              # doctest: +SKIP
    >>> client = distributed.Client(cluster)          # doctest: +SKIP
    """
    require_dask()
    from distributed import LocalCluster

    if n_workers < 1:
        raise DistributedError(f"a local cluster needs at least 1 worker, got {n_workers}")
    options = dict(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                   host="127.0.0.1", dashboard_address=":0")
    options.update(kwargs)
    return LocalCluster(**options)


@contextmanager
def connect(cluster: Any) -> Iterator[Any]:
    """A ``distributed.Client`` for ``cluster``, closed on exit only if opened here.

    ``cluster``: a ``distributed.Client`` (used as is), a scheduler address
    (``"tcp://10.0.0.5:8786"``), ``"local[N]"`` (a :func:`start_local_cluster` of ``N``
    worker processes on 127.0.0.1, shut down on exit; ``"local"``: one per core), or a
    ``distributed`` cluster object (``LocalCluster``, ``SSHCluster``, ...).

    Example
    -------
    >>> with connect("local[2]") as client:            # doctest: +SKIP
    ...     print(len(client.scheduler_info()["workers"]))
    2
    """
    require_dask()
    from distributed import Client

    if isinstance(cluster, Client):
        yield cluster
        return
    owned_cluster = None
    if isinstance(cluster, str):
        m = _LOCAL.match(cluster.strip())
        if m:
            n = int(m.group(1)) if m.group(1) else (os.cpu_count() or 1)
            owned_cluster = start_local_cluster(n)
            target: Any = owned_cluster
        elif "://" in cluster or ":" in cluster:
            target = cluster.strip()
        else:
            raise DistributedError(
                f"cluster={cluster!r} is neither a scheduler address ('tcp://host:8786') nor "
                "'local[N]'")
    elif hasattr(cluster, "scheduler_address"):
        target = cluster
    else:
        raise DistributedError(
            f"cluster= takes a distributed.Client, a scheduler address or 'local[N]'; got "
            f"{type(cluster).__name__}")
    try:
        client = Client(target, timeout="20s")
    except OSError as exc:
        if owned_cluster is not None:
            owned_cluster.close()
        raise DistributedError(f"cannot reach the Dask scheduler at {cluster!r}: {exc}; start "
                               "one with `dask scheduler` and `dask worker ADDRESS`") from exc
    try:
        yield client
    finally:
        client.close()
        if owned_cluster is not None:
            owned_cluster.close()


def require_client(client: Any):
    """``client`` if it is a ``distributed.Client``; a cluster gets wrapped in one; anything
    else is refused with a :class:`DistributedError`."""
    from distributed import Client

    if isinstance(client, Client):
        return client
    if hasattr(client, "scheduler_address"):        # a LocalCluster or another cluster
        raise DistributedError(
            f"got a cluster ({type(client).__name__}), not a client: pass "
            "distributed.Client(cluster) (or the scheduler address)")
    raise DistributedError(f"need a distributed.Client, got {type(client).__name__} "
                           f"{client!r}")


def worker_count(client: Any) -> int:
    """Number of workers currently connected to ``client``'s scheduler."""
    return max(1, len(client.scheduler_info().get("workers", {})))
