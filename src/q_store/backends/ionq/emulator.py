"""A local IonQ-compatible HTTP server: the real client runs against it offline and in tests.

It speaks IonQ's HTTP contract field for field (v0.4 and v0.3 paths and job objects,
``Authorization: apiKey <key>``, single and multi-circuit jobs, statuses, result endpoints,
``{"error", "message", "statusCode"}`` bodies; :mod:`.emulator_schema` lists every documented
field), enforces IonQ's limits (shots, qubits, metadata), simulates the circuits for real (exact
probabilities on the ideal simulator, seeded shot histograms under the Aria/Forte noise presets
and on QPU backends), models latency (:class:`LatencyModel`) on an injectable clock
(:class:`ManualClock` for tests) and injects faults on demand (:class:`FaultPlan`). It is built
to be left running: memory, connections and idle time are bounded (:class:`ServerLimits`), and
binding an address other than loopback requires an API key. Standard library only.

    with IonQEmulator(api_key="test-key", latency=LatencyModel(time_scale=0.01)) as emu:
        emu.faults.add("rate_limit", retry_after=0)
        ...  # point the IonQ client at emu.base_url

From a shell: ``q-store ionq-emulator --port 8765`` (see :func:`main`).
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from q_store.backends.ionq.emulator_clock import Clock, ManualClock, SystemClock
from q_store.backends.ionq.emulator_device import EmulatedDevice, EmulatedJob
from q_store.backends.ionq.emulator_faults import FaultPlan
from q_store.backends.ionq.emulator_http import EmulatorServer
from q_store.backends.ionq.emulator_latency import LatencyModel
from q_store.backends.ionq.emulator_limits import ServerLimits
from q_store.errors import BackendError, ConfigError

__all__ = ["FaultPlan", "IonQEmulator", "LatencyModel", "ManualClock", "ServerLimits",
           "SystemClock", "add_arguments", "emulator_from_args", "is_loopback", "main",
           "run_from_args"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve anywhere


class IonQEmulator:
    """A local IonQ-compatible server (see the module docstring).

    ``api_key=None`` accepts any non-empty key, and is allowed only on a loopback ``host``
    (anything else would serve whoever reaches the port); ``port=0`` picks a free port;
    ``seed`` makes shot histograms of jobs without a noise seed reproducible (in submission
    order); ``clock`` drives queue waits, execution and job timestamps (default real time);
    ``limits`` bounds memory, connections and idle time.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 latency: LatencyModel | None = None, seed: int | None = None,
                 clock: Clock | None = None, limits: ServerLimits | None = None) -> None:
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()
                                    or any(c.isspace() for c in api_key)):
            raise ConfigError("api_key must be a non-empty string without spaces, or None to "
                              "accept any key")
        if not isinstance(host, str) or not host.strip():
            raise ConfigError(f"host must be an address or host name, got {host!r}")
        if api_key is None and not is_loopback(host):
            raise ConfigError(f"binding {host!r} serves other machines: give an API key "
                              "(api_key=..., or --api-key) so that only its holders get in; "
                              "without one, bind 127.0.0.1")
        if limits is not None and not isinstance(limits, ServerLimits):
            raise ConfigError(f"limits must be a ServerLimits, got {limits!r}")
        if clock is not None and not all(callable(getattr(clock, m, None))
                                         for m in ("time", "monotonic", "wait")):
            raise ConfigError(f"clock must have time(), monotonic() and wait(cond, timeout) "
                              f"(a SystemClock or ManualClock), got {clock!r}")
        if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            raise ConfigError(f"port must be an integer from 0 to 65535, got {port!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)
                                 or seed < 0):
            raise ConfigError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.host = host
        self._port = port
        self._api_key = api_key
        self.latency = latency if latency is not None else LatencyModel()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.limits = limits if limits is not None else ServerLimits()
        self.faults = FaultPlan()
        self._stopping = threading.Event()
        self._device = EmulatedDevice(lambda: self.latency, seed, self._stopping, self.clock,
                                      self.limits)
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

    @property
    def expired_jobs_count(self) -> int:
        """Finished top-level jobs forgotten to stay within ``limits``."""
        return self._device.expired

    @property
    def stored_entries(self) -> int:
        """Probabilities kept in memory over all remembered jobs."""
        return self._device.stored_entries

    @property
    def open_connections(self) -> int:
        """Connections being served now."""
        return 0 if self._server is None else self._server.open_connections

    def _log(self, method: str, path: str, status: int) -> None:
        with self._log_lock:
            self._requests.append((method, path, status))

    def __repr__(self) -> str:
        key = "any" if self._api_key is None else "***"
        state = "serving" if self._server is not None else "stopped"
        return (f"IonQEmulator({self.root_url}, api_key={key}, {state}, "
                f"latency={self.latency!r})")


# -- command line ---------------------------------------------------------------------------
_DEFAULTS = ServerLimits()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's command-line options (``q-store ionq-emulator ...``)."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (127.0.0.1); any other address needs --api-key")
    parser.add_argument("--port", type=int, default=0, help="port (0: pick a free one)")
    parser.add_argument("--api-key", default=None,
                        help="the only API key accepted (default, on loopback only: any "
                             "non-empty key)")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiplies every modelled delay (default 1: real time)")
    parser.add_argument("--request-overhead", type=float, default=0.0,
                        help="seconds added to every request (before scaling)")
    parser.add_argument("--queue-wait", type=float, default=0.0,
                        help="seconds a job waits before it may start (before scaling)")
    parser.add_argument("--seconds-per-circuit", type=float, default=None,
                        help="fixed execution time per circuit (default: from shots and gates)")
    parser.add_argument("--seed", type=int, default=None, help="seed for shot histograms")
    parser.add_argument("--max-jobs", type=int, default=_DEFAULTS.max_jobs,
                        help="jobs remembered; the oldest finished ones expire "
                             f"({_DEFAULTS.max_jobs})")
    parser.add_argument("--max-result-entries", type=int,
                        default=_DEFAULTS.max_result_entries,
                        help="most probabilities one job may produce "
                             f"({_DEFAULTS.max_result_entries})")
    parser.add_argument("--max-connections", type=int, default=_DEFAULTS.max_connections,
                        help=f"connections served at once ({_DEFAULTS.max_connections})")
    parser.add_argument("--idle-timeout", type=float, default=_DEFAULTS.idle_timeout,
                        help="seconds before an idle connection is closed "
                             f"({_DEFAULTS.idle_timeout:g})")


def emulator_from_args(args: argparse.Namespace) -> IonQEmulator:
    """An (unstarted) emulator configured by :func:`add_arguments`'s options (ConfigError
    on a bad combination, e.g. a non-loopback --host without --api-key)."""
    latency = LatencyModel(request_overhead=args.request_overhead, queue_wait=args.queue_wait,
                           seconds_per_circuit=args.seconds_per_circuit,
                           time_scale=args.time_scale)
    stored = max(_DEFAULTS.max_stored_entries, args.max_result_entries)
    limits = ServerLimits(max_jobs=args.max_jobs, max_result_entries=args.max_result_entries,
                          max_stored_entries=stored, max_connections=args.max_connections,
                          idle_timeout=args.idle_timeout)
    return IonQEmulator(host=args.host, port=args.port, api_key=args.api_key, latency=latency,
                        seed=args.seed, limits=limits)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run_from_args(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (or SIGTERM), printing the base URL first. A bad configuration
    prints ``error: ...`` and returns 2, before anything is bound."""
    try:
        emu = emulator_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
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
