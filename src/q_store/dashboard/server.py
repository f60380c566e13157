"""Serving the dashboard: address checks, uvicorn in a background thread (for a trainer) or in
the foreground (``q-store dashboard``), and the trainer's live dashboard.

The server binds 127.0.0.1 unless told otherwise; another address is refused unless the caller
says ``allow_remote=True`` (``--allow-remote``), because the dashboard has no authentication:
whoever reaches the port reads every run it serves.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
import time
from typing import Any

from q_store.errors import ConfigError, NotSupportedError

__all__ = ["DashboardServer", "TrainerDashboard", "check_address", "is_loopback",
           "require_dashboard", "sync_trainer_dashboard"]

log = logging.getLogger("q_store.dashboard")


def require_dashboard() -> None:
    """Refuse clearly when the web stack is not installed."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise NotSupportedError(f"the dashboard needs Starlette and uvicorn ({exc}); install "
                                "them with: pip install 'q-store[dashboard]'") from None


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_address(host: str, port: int, *, allow_remote: bool, exposes: str) -> None:
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"dashboard port must be an integer from 0 to 65535 (0: any free "
                          f"port), got {port!r}")
    if not is_loopback(host) and not allow_remote:
        raise ConfigError(
            f"refusing to serve the dashboard on {host}:{port}: that is not a loopback "
            f"address, and the dashboard has no authentication or TLS, so anyone who can "
            f"reach this machine there would read {exposes} (configurations without "
            "secrets, metrics, telemetry events). Pass --allow-remote (allow_remote=True) "
            "if that is what you want, or keep 127.0.0.1 and use an SSH tunnel")


class DashboardServer:
    """uvicorn serving ``app`` on ``host:port`` (port 0: a free port, see :attr:`url`)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 8080, *,
                 allow_remote: bool = False, exposes: str = "every run it serves") -> None:
        check_address(host, port, allow_remote=allow_remote, exposes=exposes)
        self.app, self.host = app, host
        self._sock = self._bind(host, port)
        self.port = self._sock.getsockname()[1]
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        """The listening socket, bound now: a taken port is a clear error, not a log line of a
        background thread."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            sock.close()
            raise ConfigError(f"cannot serve the dashboard on {host}:{port}: {exc.strerror or exc}"
                              "; choose another port (0 picks a free one)") from None
        sock.listen(128)
        return sock

    @property
    def url(self) -> str:
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def _make_server(self) -> Any:
        import uvicorn

        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2, ws="none")
        self._server = uvicorn.Server(config)
        return self._server

    def start(self, timeout: float = 30.0) -> str:
        """Serve from a daemon thread; returns once it accepts connections."""
        server = self._make_server()
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [self._sock]},
                                        name=f"q-store dashboard :{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise ConfigError(f"the dashboard server on {self.url} did not start")
            time.sleep(0.01)
        return self.url

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (uvicorn handles the signal)."""
        self._make_server().run(sockets=[self._sock])

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._sock.close()


class TrainerDashboard:
    """A trainer's live dashboard (``TrainingConfig(enable_dashboard=True)``): started at the
    trainer's first ``train()``, one run per ``train()`` call, served until
    ``trainer.close()`` so the finished run stays on screen."""

    def __init__(self, port: int) -> None:
        require_dashboard()
        from q_store.dashboard.app import create_app
        from q_store.dashboard.hub import EventHub

        self.hub = EventHub()
        self.server = DashboardServer(create_app(self.hub, title="Q-Store training"),
                                      port=port, exposes="this trainer's runs")
        self.requested_port = port
        self.url = self.server.start()
        self._last_end = -float("inf")
        self._reason_before: str | None = None
        log.info("dashboard: %s", self.url)
        print(f"q-store dashboard: {self.url} (until trainer.close())", file=sys.stderr)

    def begin_run(self, tracker: Any, stop_reason: str | None = None) -> str:
        """A new run fed by ``tracker``; named by a ``run`` event emitted for it just before
        (``q-store train`` emits one), which also opens its event list. ``stop_reason``: the
        trainer's before this run (it is not reset between calls)."""
        self._reason_before = stop_reason
        self.hub.attach(tracker)
        named = [e for e in tracker.events("run")[-1:] if e["t"] >= self._last_end]
        run_id = self.hub.start_run(named[0].get("name") if named else None)
        for event in named:
            self.hub.publish(event)
        return run_id

    def end_run(self, trainer: Any, exc: BaseException | None = None) -> None:
        if exc is not None:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.hub.end_run(status, f"{type(exc).__name__}: {exc}")
        elif trainer.stop_reason is not None and trainer.stop_reason is not self._reason_before:
            self.hub.end_run("interrupted", trainer.stop_reason)
        else:
            self.hub.end_run("completed")
        self._last_end = time.time()

    def close(self) -> None:
        self.hub.close()
        self.server.stop()


def sync_trainer_dashboard(trainer: Any) -> TrainerDashboard | None:
    """The dashboard ``trainer.config`` asks for, started, restarted on another port or
    stopped to match it (called at each ``train()``); its new run is open."""
    cfg, current = trainer.config, getattr(trainer, "dashboard", None)
    if current is not None and (not cfg.enable_dashboard
                                or current.requested_port != cfg.dashboard_port):
        current.close()
        current = None
    if cfg.enable_dashboard:
        if current is None:
            current = TrainerDashboard(cfg.dashboard_port)
        assert trainer.performance_tracker is not None  # validate() requires tracking
        current.begin_run(trainer.performance_tracker, trainer.stop_reason)
    trainer.dashboard = current
    return current
