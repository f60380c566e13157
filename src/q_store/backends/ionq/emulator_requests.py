"""Validation of the job bodies the local IonQ emulator accepts (v0.4 and v0.3).

Validation happens once, here, at the HTTP boundary: a bad body becomes a 400 whose message says
what was wrong and what is allowed; what passes is a :class:`JobRequest` of parsed circuits.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from q_store.backends.ionq.serialize import circuit_from_ionq
from q_store.circuit.ir import Circuit
from q_store.errors import CircuitError, QStoreError
from q_store.sim.density import MAX_QUBITS as DENSITY_LIMIT

__all__ = [
    "BACKEND_QUBITS",
    "DENSITY_LIMIT",
    "NOISE_MODELS",
    "STATEVECTOR_LIMIT",
    "ApiError",
    "CircuitSpec",
    "JobRequest",
    "parse_job_request",
]

# qubits IonQ offers per backend (simulator 29; Aria 25; Forte-1 36: Azure Quantum's IonQ page)
BACKEND_QUBITS = {"simulator": 29, "qpu.aria-1": 25, "qpu.forte-1": 36}
NOISE_MODELS = ("ideal", "aria-1", "forte-1")
QPU_NOISE = {"qpu.aria-1": "aria-1", "qpu.forte-1": "forte-1"}
STATEVECTOR_LIMIT = 25  # 512 MiB state at complex128: what one machine simulates comfortably
MAX_METADATA_KEYS = 10
SINGLE, MULTI = "ionq.circuit.v1", "ionq.multi-circuit.v1"
_TOP_KEYS = {"v0.4": {"type", "backend", "shots", "name", "metadata", "noise", "input"},
             "v0.3": {"type", "target", "shots", "name", "metadata", "noise", "input"}}
_INPUT_KEYS = {"v0.4": {"gateset", "qubits", "circuit", "circuits"},
               "v0.3": {"format", "gateset", "qubits", "circuit", "circuits"}}
_WIRE_KEYS = (("target", "targets"), ("control", "controls"))
_NUMBER_KEYS = ("rotation", "phase", "angle")


class ApiError(QStoreError):
    """A request the emulator answers with an HTTP error body (never raised to users)."""

    def __init__(self, status: int, error: str, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.headers = dict(headers or {})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


@dataclass(frozen=True)
class CircuitSpec:
    """One parsed circuit of a job and its optional name."""

    name: str | None
    circuit: Circuit


@dataclass(frozen=True)
class JobRequest:
    """A validated job: ``noise_model`` is what simulates it (a QPU backend uses its own
    preset); ``noise`` is the request's noise object as the job record echoes it."""

    multi: bool
    backend: str
    shots: int
    name: str | None
    metadata: dict[str, str]
    noise: dict[str, Any] | None
    noise_model: str
    noise_seed: int | None
    qubits: int
    circuits: tuple[CircuitSpec, ...]

    @property
    def exact(self) -> bool:
        """Exact probabilities (the ideal cloud simulator) rather than a shot histogram."""
        return self.backend == "simulator" and self.noise_model == "ideal"


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_keys(obj: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise bad_request(f"unknown field(s) {extra} in {where}; allowed: {sorted(allowed)}")


def _gate_wires(i: int, gate: object) -> list[int]:
    """Check a gate's shape (an object with a string ``gate``, integer wires, numeric angles);
    return its wires."""
    if not isinstance(gate, Mapping):
        raise bad_request(f"gate {i} must be an object like {{\"gate\": \"h\", \"target\": 0}}, "
                          f"got {gate!r}")
    if not isinstance(gate.get("gate"), str):
        raise bad_request(f"gate {i} needs a string field 'gate', got {gate!r}")
    wires: list[int] = []
    for one, many in _WIRE_KEYS:
        if one in gate:
            if not _is_int(gate[one]):
                raise bad_request(f"gate {i}: {one!r} must be an integer qubit index, "
                                  f"got {gate[one]!r}")
            wires.append(int(gate[one]))
        if many in gate:
            ws = gate[many]
            if not isinstance(ws, list) or not ws or not all(_is_int(w) for w in ws):
                raise bad_request(f"gate {i}: {many!r} must be a non-empty list of integer qubit "
                                  f"indices, got {ws!r}")
            wires += [int(w) for w in ws]
    numbers_given = [(k, gate[k]) for k in _NUMBER_KEYS if k in gate]
    if "phases" in gate:
        ph = gate["phases"]
        if not isinstance(ph, list) or len(ph) != 2:
            raise bad_request(f"gate {i}: 'phases' must be a list of two numbers (turns), "
                              f"got {ph!r}")
        numbers_given += [("phases", p) for p in ph]
    for key, value in numbers_given:
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise bad_request(f"gate {i}: {key!r} must be a number, got {value!r}")
    return wires


def _parse_circuit(label: str, gates: object, qubits: int, gateset: str) -> Circuit:
    if not isinstance(gates, list):
        raise bad_request(f"{label} must be a list of gates, got {type(gates).__name__}")
    for i, g in enumerate(gates):
        _gate_wires(i, g)
    try:
        return circuit_from_ionq(qubits, gates, gateset)
    except CircuitError as exc:
        raise bad_request(f"{label}: {exc}") from None


def _infer_qubits(gate_lists: list[object]) -> int:
    top = -1
    for gates in gate_lists:
        if isinstance(gates, list):
            for i, g in enumerate(gates):
                top = max([top, *_gate_wires(i, g)])
    return max(top + 1, 1)


def _noise(body: Mapping[str, Any], backend: str) -> tuple[dict[str, Any] | None, str, int | None]:
    noise = body.get("noise")
    if noise is None:
        return None, QPU_NOISE.get(backend, "ideal"), None
    if backend != "simulator":
        raise bad_request(f"'noise' applies to the simulator backend only; {backend} runs with "
                          "its own noise")
    if not isinstance(noise, Mapping):
        raise bad_request(f"'noise' must be an object like {{\"model\": \"aria-1\"}}, got "
                          f"{noise!r}")
    _check_keys(noise, {"model", "seed"}, "noise")
    model = noise.get("model", "ideal")
    if model not in NOISE_MODELS:
        raise bad_request(f"unknown noise model {model!r}; use one of {list(NOISE_MODELS)}")
    seed = noise.get("seed")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise bad_request(f"noise seed must be a non-negative integer, got {seed!r}")
    echo: dict[str, Any] = {"model": model}
    if seed is not None:
        echo["seed"] = int(seed)
    return echo, model, None if seed is None else int(seed)


def _metadata(body: Mapping[str, Any]) -> dict[str, str]:
    meta = body.get("metadata")
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise bad_request(f"'metadata' must be an object of string values, got {meta!r}")
    if len(meta) > MAX_METADATA_KEYS:
        raise bad_request(f"'metadata' has {len(meta)} keys; at most {MAX_METADATA_KEYS} "
                          "are allowed")
    bad = sorted(k for k, v in meta.items() if not isinstance(v, str))
    if bad:
        raise bad_request(f"metadata values must be strings; not strings at keys {bad}")
    return dict(meta)


def _check_limits(n: int, backend: str, model: str) -> None:
    if n > BACKEND_QUBITS[backend]:
        raise bad_request(f"{backend} runs at most {BACKEND_QUBITS[backend]} qubits; this job "
                          f"has {n}")
    if model != "ideal" and n > DENSITY_LIMIT:
        raise bad_request(f"noise model {model!r} is emulated by a density-matrix simulator "
                          f"limited to {DENSITY_LIMIT} qubits; this job has {n} (use the "
                          "simulator with noise model 'ideal', or fewer qubits)")
    if n > STATEVECTOR_LIMIT:
        raise bad_request(f"the local emulator simulates at most {STATEVECTOR_LIMIT} qubits "
                          f"(IonQ's cloud simulator takes 29); this job has {n}")


def parse_job_request(body: object, version: str) -> JobRequest:
    """Validate a POST /jobs body of API ``version`` (``"v0.4"`` or ``"v0.3"``)."""
    if not isinstance(body, Mapping):
        raise bad_request("the job body must be a JSON object")
    _check_keys(body, _TOP_KEYS[version], "the job body")
    backend_key = "backend" if version == "v0.4" else "target"
    backend = body.get(backend_key)
    if backend not in BACKEND_QUBITS:
        raise bad_request(f"{backend_key!r} must be one of {list(BACKEND_QUBITS)}, "
                          f"got {backend!r}")
    shots = body.get("shots")
    if not _is_int(shots) or shots < 1:
        raise bad_request(f"'shots' must be a positive integer, got {shots!r}")
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise bad_request(f"'name' must be a string, got {name!r}")
    metadata = _metadata(body)
    inp = body.get("input")
    if not isinstance(inp, Mapping):
        raise bad_request("'input' must be an object with 'gateset', 'qubits' and 'circuit' "
                          "(or 'circuits')")
    _check_keys(inp, _INPUT_KEYS[version], "input")
    if "format" in inp and inp["format"] != "ionq.circuit.v0":
        raise bad_request(f"input.format must be 'ionq.circuit.v0', got {inp['format']!r}")
    if ("circuit" in inp) == ("circuits" in inp):
        raise bad_request("input needs exactly one of 'circuit' (one gate list) and 'circuits' "
                          "(a list of {name, circuit})")
    multi = "circuits" in inp
    kind = body.get("type")
    if version == "v0.4" and kind is None:
        raise bad_request(f"'type' is required: {SINGLE!r} or {MULTI!r}")
    if kind is not None and kind != (MULTI if multi else SINGLE):
        raise bad_request(f"'type' {kind!r} does not fit the input: use {SINGLE!r} with "
                          f"input.circuit and {MULTI!r} with input.circuits")
    gateset = inp.get("gateset", "qis")
    if gateset not in ("qis", "native"):
        raise bad_request(f"unknown gateset {gateset!r}; use 'qis' or 'native'")
    if multi:
        items = inp["circuits"]
        if not isinstance(items, list) or not items:
            raise bad_request("input.circuits must be a non-empty list of {name, circuit}")
        for j, item in enumerate(items):
            if not isinstance(item, Mapping) or "circuit" not in item:
                raise bad_request(f"input.circuits[{j}] must be an object with a 'circuit' list")
            _check_keys(item, {"name", "circuit"}, f"input.circuits[{j}]")
            if item.get("name") is not None and not isinstance(item["name"], str):
                raise bad_request(f"input.circuits[{j}].name must be a string")
        named = [(item.get("name"), item["circuit"], f"circuit {j}")
                 for j, item in enumerate(items)]
    else:
        named = [(None, inp["circuit"], "circuit")]
    qubits = inp.get("qubits")
    if qubits is None:
        qubits = _infer_qubits([g for _, g, _ in named])
    elif not _is_int(qubits) or qubits < 1:
        raise bad_request(f"input.qubits must be a positive integer, got {qubits!r}")
    noise, model, seed = _noise(body, backend)
    _check_limits(int(qubits), backend, model)
    specs = tuple(CircuitSpec(nm, _parse_circuit(label, g, int(qubits), gateset))
                  for nm, g, label in named)
    return JobRequest(multi, backend, int(shots), name, metadata, noise, model, seed,
                      int(qubits), specs)
