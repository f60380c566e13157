"""The live dashboard: a local web application showing training runs as they happen.

Two ways in: ``TrainingConfig(enable_dashboard=True, dashboard_port=8080)`` serves the
trainer's own runs while it trains (one run per ``train()`` call, kept until
``trainer.close()``), and ``q-store dashboard [--store DIR]`` serves the run store. Both bind
127.0.0.1 unless told otherwise. The page draws loss and accuracy, circuit execution, backend
load, gradient variance, shot allocation, circuit complexity and cost from the run's telemetry
events (pushed by server-sent events), lists runs and overlays two or more of them.

Modules: :mod:`~q_store.dashboard.hub` (where the data come from: :class:`EventHub`, the
trainer's tracker stream kept in a bounded ring; :class:`StoreSource`, the run store),
:mod:`~q_store.dashboard.app` (the Starlette application), :mod:`~q_store.dashboard.server`
(uvicorn, address checks, the trainer's dashboard). Starlette and uvicorn come with the
``dashboard`` extra; this package imports them only when a dashboard is built.
"""

from typing import Any

from q_store.dashboard.hub import EventHub, StoreSource
from q_store.dashboard.server import (
    DashboardServer,
    TrainerDashboard,
    is_loopback,
    require_dashboard,
)

__all__ = ["DashboardServer", "EventHub", "StoreSource", "TrainerDashboard", "create_app",
           "is_loopback", "require_dashboard"]


def create_app(source: Any, **options: Any) -> Any:
    """The Starlette application serving ``source`` (:func:`q_store.dashboard.app.create_app`)."""
    require_dashboard()
    from q_store.dashboard.app import create_app as make

    return make(source, **options)
