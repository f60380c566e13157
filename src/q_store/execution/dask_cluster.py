"""Reaching a Dask cluster: a scheduler address, or a ``LocalCluster`` on this machine.

Dask (``pip install "q-store[dask]"``) is imported on first use only. One client per cluster
description is kept for the process (a connection pool, not per-call state) and closed at exit,
so a trainer that rebuilds its engine does not start a new cluster. A scheduler that cannot be
reached fails within ``connect_timeout`` seconds with a :class:`~q_store.errors.BackendError`
that names the address; nothing waits forever.
"""

from __future__ import annotations

import atexit
import logging
import threading
from dataclasses import dataclass
from typing import Any

from q_store.errors import BackendError, NotSupportedError

__all__ = ["ClusterSpec", "client_for", "close_all", "require_dask"]

_EXTRA = ('executor="dask" needs Dask distributed: pip install "q-store[dask]" (or '
          'pip install "dask[distributed]")')


def require_dask() -> Any:
    """The ``distributed`` module, or a clear error naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise NotSupportedError(f"{_EXTRA} ({exc})") from None
    return distributed


@dataclass(frozen=True)
class ClusterSpec:
    """Where tasks go: ``scheduler`` address (None: a LocalCluster of ``workers`` processes
    with one thread each); with an address, ``workers`` is how many to wait for."""

    scheduler: str | None = None
    workers: int | None = None
    connect_timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Any) -> ClusterSpec:
        return cls(config.dask_scheduler, config.dask_workers, float(config.dask_connect_timeout))


_lock = threading.Lock()
_clients: dict[ClusterSpec, tuple[Any, Any]] = {}  # spec -> (client, own LocalCluster or None)


def client_for(spec: ClusterSpec) -> Any:
    """The process's client for ``spec`` (connected on first use)."""
    with _lock:
        held = _clients.get(spec)
        if held is not None and held[0].status == "running":
            return held[0]
        if held is not None:
            _close(*held)
        _clients[spec] = _connect(spec)
        return _clients[spec][0]


def _connect(spec: ClusterSpec) -> tuple[Any, Any]:
    distributed = require_dask()
    if spec.scheduler is None:
        import os

        cluster = distributed.LocalCluster(
            n_workers=spec.workers or os.cpu_count() or 1, threads_per_worker=1,
            processes=True, dashboard_address=None, silence_logs=logging.ERROR)
        return distributed.Client(cluster, timeout=spec.connect_timeout), cluster
    try:
        client = distributed.Client(spec.scheduler, timeout=spec.connect_timeout)
    except (OSError, TimeoutError) as exc:
        raise BackendError(
            f"the Dask scheduler at {spec.scheduler} cannot be reached within "
            f"{spec.connect_timeout:g} s ({exc}); start it (`dask scheduler`), fix "
            "dask_scheduler, or leave it None to run a LocalCluster on this machine") from None
    if spec.workers:
        try:
            client.wait_for_workers(spec.workers, timeout=spec.connect_timeout)
        except (OSError, TimeoutError):
            have = len(client.scheduler_info().get("workers", {}))
            client.close()
            raise BackendError(
                f"the Dask scheduler at {spec.scheduler} has {have} worker(s) after "
                f"{spec.connect_timeout:g} s, dask_workers={spec.workers} asked for; start "
                "more (`dask worker ADDRESS`) or lower dask_workers") from None
    return client, None


def _close(client: Any, cluster: Any) -> None:
    try:
        client.close()
    finally:
        if cluster is not None:
            cluster.close()


def close_all() -> None:
    """Close every client (and LocalCluster) this process opened."""
    with _lock:
        held = list(_clients.values())
        _clients.clear()
    for client, cluster in held:
        _close(client, cluster)


atexit.register(close_all)
