"""A local IonQ-compatible HTTP server: the real client runs against it offline and in tests.

It speaks IonQ's HTTP contract (v0.4 and v0.3 paths, ``Authorization: apiKey <key>``, single
and multi-circuit jobs, statuses, result endpoints, ``{"error", "message", "statusCode"}``
bodies), simulates the circuits for real (exact probabilities on the ideal simulator, seeded
shot histograms under the Aria/Forte noise presets and on QPU backends), models latency
(:class:`LatencyModel`) and injects faults on demand (:class:`FaultPlan`). Standard library
only: ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive.

    with IonQEmulator(api_key="test-key", latency=LatencyModel(time_scale=0.01)) as emu:
        emu.faults.add("rate_limit", retry_after=0)
        ...  # point the IonQ client at emu.base_url

From a shell: ``python -m q_store.backends.ionq.emulator --port 8765`` (see :func:`main`).
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from q_store.backends.ionq.emulator_device import EmulatedDevice, EmulatedJob
from q_store.backends.ionq.emulator_faults import FaultPlan
from q_store.backends.ionq.emulator_http import EmulatorServer
from q_store.backends.ionq.emulator_latency import LatencyModel
from q_store.backends.ionq.emulator_requests import BACKEND_QUBITS, NOISE_MODELS
from q_store.errors import BackendError, ConfigError

__all__ = ["FaultPlan", "IonQEmulator", "LatencyModel", "add_arguments", "emulator_from_args",
           "main", "run_from_args"]


class IonQEmulator:
    """A local IonQ-compatible server (see the module docstring).

    ``api_key=None`` accepts any non-empty key; ``port=0`` picks a free port; ``seed`` makes
    shot histograms of jobs without a noise seed reproducible (in submission order).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 latency: LatencyModel | None = None, seed: int | None = None) -> None:
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()
                                    or any(c.isspace() for c in api_key)):
            raise ConfigError("api_key must be a non-empty string without spaces, or None to "
                              "accept any key")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ConfigError(f"port must be an integer from 0 to 65535, got {port!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)
                                 or seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.host = host
        self._port = port
        self._api_key = api_key
        self.latency = latency if latency is not None else LatencyModel()
        self.faults = FaultPlan()
        self._stopping = threading.Event()
        self._device = EmulatedDevice(lambda: self.latency, seed, self._stopping)
        self._log_lock = threading.Lock()
        self._requests: list[tuple[str, str, int]] = []
        self._server: EmulatorServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._used = False

    @property
    def latency(self) -> LatencyModel:
        return self._latency

    @latency.setter
    def latency(self, value: LatencyModel) -> None:
        if not isinstance(value, LatencyModel):
            raise ConfigError(f"latency must be a LatencyModel, got {value!r}")
        self._latency = value

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> IonQEmulator:
        """Bind the port and serve in background threads."""
        if self._used:
            raise BackendError("this IonQEmulator was already started; create a new one")
        self._used = True
        self._server = EmulatorServer((self.host, self._port), self)
        self._port = self._server.server_address[1]
        self._device.start()
        self._serve_thread = threading.Thread(target=self._server.serve_forever,
                                              kwargs={"poll_interval": 0.05},
                                              name="ionq-emulator-server", daemon=True)
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: close connections, join every thread. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join()
        self._device.stop()

    def __enter__(self) -> IonQEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses and records ---------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v0.4"

    @property
    def jobs(self) -> Mapping[str, EmulatedJob]:
        """Snapshot of every job record (children included), by id."""
        return MappingProxyType(self._device.snapshot())

    @property
    def requests(self) -> tuple[tuple[str, str, int], ...]:
        """``(method, path, status)`` of every handled request (status 0: dropped)."""
        with self._log_lock:
            return tuple(self._requests)

    @property
    def created_jobs_count(self) -> int:
        """Top-level jobs created through POST /jobs."""
        return self._device.created

    def _log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self._requests.append((method, path, status))

    def _backends(self) -> list[dict[str, Any]]:
        wait_ms = round(self.latency.queue_delay() * 1000)
        out = []
        for name, qubits in BACKEND_QUBITS.items():
            entry: dict[str, Any] = {"backend": name, "status": "available", "qubits": qubits,
                                     "average_queue_time": wait_ms,
                                     "last_updated": int(time.time())}
            if name == "simulator":
                entry["noise_models"] = list(NOISE_MODELS)
            out.append(entry)
        return out

    def __repr__(self) -> str:
        key = "any" if self._api_key is None else "***"
        state = "serving" if self._server is not None else "stopped"
        return (f"IonQEmulator({self.root_url}, api_key={key}, {state}, "
                f"latency={self.latency!r})")


# -- command line ---------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's command-line options (``q-store ionq-emulator ...``)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    parser.add_argument("--api-key", default=None,
                        help="the only API key accepted (default: any non-empty key)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiplies every modelled delay (default 1: real time)")
    parser.add_argument("--request-overhead", type=float, default=0.0,
                        help="seconds added to every request (before scaling)")
    parser.add_argument("--queue-wait", type=float, default=0.0,
                        help="seconds a job waits before it may start (before scaling)")
    parser.add_argument("--seconds-per-circuit", type=float, default=None,
                        help="fixed execution time per circuit (default: from shots and gates)")
    parser.add_argument("--seed", type=int, default=None, help="seed for shot histograms")


def emulator_from_args(args: argparse.Namespace) -> IonQEmulator:
    """An (unstarted) emulator configured by :func:`add_arguments`'s options."""
    latency = LatencyModel(request_overhead=args.request_overhead, queue_wait=args.queue_wait,
                           seconds_per_circuit=args.seconds_per_circuit,
                           time_scale=args.time_scale)
    return IonQEmulator(host=args.host, port=args.port, api_key=args.api_key, latency=latency,
                        seed=args.seed)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM), printing the base URL first."""
    emu = emulator_from_args(args)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    with emu:
        keys = "any non-empty API key" if args.api_key is None else "the given API key only"
        print(f"IonQ emulator serving {emu.base_url} (and {emu.root_url}/v0.3), accepting "
              f"{keys}; Ctrl-C stops it", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m q_store.backends.ionq.emulator",
                                     description="Local IonQ-compatible server.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
