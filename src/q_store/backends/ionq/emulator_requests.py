"""Validation of the job bodies the local IonQ emulator accepts (v0.4 and v0.3).

Validation happens once, here, at the HTTP boundary, against IonQ's documented body
(:data:`.emulator_schema.JOB_BODY`: any other field is a 400, as IonQ's ``additionalProperties:
false`` schemas answer it) and IonQ's limits (:mod:`.emulator_limits`). A bad body becomes a 400
whose message says what was wrong and what is allowed; what passes is a :class:`JobRequest` of
parsed circuits. Documented features the emulator does not emulate (sessions, dry runs,
registers) are refused with a 400 that says so, never silently ignored.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from q_store.backends.ionq.emulator_limits import (
    BACKEND_QUBITS,
    DEFAULT_SHOTS,
    MAX_METADATA_KEYS,
    MAX_SHOTS,
)
from q_store.backends.ionq.emulator_schema import GATE_KEYS, JOB_BODY, Field, sub
from q_store.backends.ionq.serialize import circuit_from_ionq
from q_store.circuit.ir import Circuit
from q_store.errors import CircuitError, QStoreError
from q_store.sim.density import MAX_QUBITS as DENSITY_LIMIT

__all__ = [
    "BACKEND_QUBITS",
    "DENSITY_LIMIT",
    "MULTI",
    "NOISE_MODELS",
    "SINGLE",
    "ApiError",
    "CircuitSpec",
    "JobRequest",
    "bad_request",
    "parse_job_request",
]

NOISE_MODELS = ("ideal", "aria-1", "forte-1")
QPU_NOISE = {"qpu.aria-1": "aria-1", "qpu.forte-1": "forte-1"}
SINGLE, MULTI = "ionq.circuit.v1", "ionq.multi-circuit.v1"
_WIRE_KEYS = (("target", "targets"), ("control", "controls"))
_NUMBER_KEYS = ("rotation", "phase", "angle")


class ApiError(QStoreError):
    """A request the emulator answers with IonQ's error body ``{error, message, statusCode}``
    (``error`` is the status's reason phrase, as IonQ's error-code tables list them)."""

    def __init__(self, status: int, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.headers = dict(headers or {})

    @property
    def error(self) -> str:
        return reason_phrase(self.status)

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, "statusCode": self.status}


def reason_phrase(status: int) -> str:
    """``"Bad Request"`` for 400 and so on; ``"Server Error"`` for unnamed 5xx codes."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error" if status >= 500 else "Error"


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


@dataclass(frozen=True)
class CircuitSpec:
    """One parsed circuit of a job and its optional name."""

    name: str | None
    circuit: Circuit


@dataclass(frozen=True)
class JobRequest:
    """A validated job: ``noise_model`` is what simulates it (a QPU backend uses its own
    preset); ``noise`` is the noise object as the job record echoes it (None off the
    simulator); ``settings`` the request's settings, echoed."""

    multi: bool
    backend: str
    shots: int
    name: str | None
    metadata: dict[str, str] | None
    noise: dict[str, Any] | None
    noise_model: str
    noise_seed: int | None
    qubits: int
    circuits: tuple[CircuitSpec, ...]
    settings: dict[str, Any]

    @property
    def exact(self) -> bool:
        """Exact probabilities (the ideal cloud simulator) rather than a shot histogram."""
        return self.backend == "simulator" and self.noise_model == "ideal"

    def result_entries(self) -> int:
        """Most probabilities the result can hold (see :func:`result_entries`)."""
        return result_entries([s.circuit.n_qubits for s in self.circuits], self.shots,
                              self.exact)


def result_entries(widths: list[int], shots: int, exact: bool) -> int:
    """Most probabilities a job's result can hold: ``2**qubits`` per circuit when exact,
    ``min(shots, 2**qubits)`` when sampled (only nonzero entries are kept and sent)."""
    return sum(2**n if exact else min(shots, 2**n) for n in widths)


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _check_keys(obj: Mapping[str, Any], schema: Field | frozenset[str], where: str) -> None:
    allowed = set(schema.fields or ()) if isinstance(schema, Field) else set(schema)
    extra = sorted(str(k) for k in set(obj) - allowed)
    if extra:
        raise bad_request(f"unknown field(s) {extra} in {where}; allowed: {sorted(allowed)}")


def _gate_wires(i: int, gate: object, gateset: str) -> list[int]:
    """Check a gate's shape (an object of the gate set's documented keys, a string ``gate``,
    integer wires, finite numeric angles); return its wires."""
    if not isinstance(gate, Mapping):
        raise bad_request(f"gate {i} must be an object like {{\"gate\": \"h\", \"target\": 0}}, "
                          f"got {gate!r:.80}")
    _check_keys(gate, GATE_KEYS[gateset], f"gate {i} ({gateset} gateset)")
    if not isinstance(gate.get("gate"), str):
        raise bad_request(f"gate {i} needs a string field 'gate', got {gate!r:.80}")
    wires: list[int] = []
    for one, many in _WIRE_KEYS:
        if one in gate:
            if not _is_int(gate[one]):
                raise bad_request(f"gate {i}: {one!r} must be an integer qubit index, "
                                  f"got {gate[one]!r:.40}")
            wires.append(int(gate[one]))
        if many in gate:
            ws = gate[many]
            if not isinstance(ws, list) or not ws or not all(_is_int(w) for w in ws):
                raise bad_request(f"gate {i}: {many!r} must be a non-empty list of integer qubit "
                                  f"indices, got {ws!r:.40}")
            wires += [int(w) for w in ws]
    numbers_given = [(k, gate[k]) for k in _NUMBER_KEYS if k in gate]
    if "phases" in gate:
        ph = gate["phases"]
        if not isinstance(ph, list) or len(ph) != 2:
            raise bad_request(f"gate {i}: 'phases' must be a list of two numbers (turns), "
                              f"got {ph!r:.40}")
        numbers_given += [("phases", p) for p in ph]
    for key, value in numbers_given:
        if (not isinstance(value, numbers.Real) or isinstance(value, bool)
                or not math.isfinite(value)):
            raise bad_request(f"gate {i}: {key!r} must be a finite number, got {value!r:.40}")
    return wires


def _parse_circuit(label: str, gates: object, qubits: int, gateset: str) -> Circuit:
    if not isinstance(gates, list):
        raise bad_request(f"{label} must be a list of gates, got {type(gates).__name__}")
    for i, g in enumerate(gates):
        _gate_wires(i, g, gateset)
    try:
        return circuit_from_ionq(qubits, gates, gateset)
    except CircuitError as exc:
        raise bad_request(f"{label}: {exc}") from None


def _infer_qubits(named: list[tuple[Any, object, str, str]]) -> int:
    top = -1
    for _, gates, _, gateset in named:
        if isinstance(gates, list):
            for i, g in enumerate(gates):
                top = max([top, *_gate_wires(i, g, gateset)])
    return max(top + 1, 1)


def _noise(body: Mapping[str, Any], backend: str) -> tuple[dict[str, Any] | None, str, int | None]:
    noise = body.get("noise")
    if noise is None:
        model = QPU_NOISE.get(backend, "ideal")
        return ({"model": "ideal"} if backend == "simulator" else None), model, None
    if backend != "simulator":
        raise bad_request(f"'noise' applies to the simulator backend only; {backend} runs with "
                          "its own noise")
    if not isinstance(noise, Mapping):
        raise bad_request(f"'noise' must be an object like {{\"model\": \"aria-1\"}}, got "
                          f"{noise!r:.60}")
    _check_keys(noise, frozenset({"model", "seed"}), "noise")
    model = noise.get("model", "ideal")
    if model not in NOISE_MODELS:
        raise bad_request(f"unknown noise model {model!r:.40}; the emulator has "
                          f"{list(NOISE_MODELS)}")
    seed = noise.get("seed")
    if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**31):
        raise bad_request(f"noise seed must be an integer from 0 to {2**31 - 1} (int32), "
                          f"got {seed!r:.40}")
    echo: dict[str, Any] = {"model": model}
    if seed is not None:
        echo["seed"] = int(seed)
    return echo, model, None if seed is None else int(seed)


def _metadata(body: Mapping[str, Any]) -> dict[str, str] | None:
    meta = body.get("metadata")
    if meta is None:
        return None
    if not isinstance(meta, Mapping):
        raise bad_request(f"'metadata' must be an object of string values, got {meta!r:.60}")
    if len(meta) > MAX_METADATA_KEYS:
        raise bad_request(f"'metadata' has {len(meta)} keys; at most {MAX_METADATA_KEYS} "
                          "are allowed")
    bad = sorted(k for k, v in meta.items() if not isinstance(v, str))
    if bad:
        raise bad_request(f"metadata values must be strings; not strings at keys {bad}")
    return dict(meta)


def _settings(body: Mapping[str, Any]) -> dict[str, Any]:
    """IonQ's ``settings`` (error_mitigation.debiasing, compilation.opt/precision), echoed on
    the job. The emulator computes the same distribution either way."""
    settings = body.get("settings", {})
    schema = sub(JOB_BODY["v0.4"], "settings")
    if not isinstance(settings, Mapping):
        raise bad_request(f"'settings' must be an object, got {settings!r:.60}")
    _check_keys(settings, schema, "settings")
    out: dict[str, Any] = {}
    for key, part in (schema.fields or {}).items():
        if key not in settings:
            continue
        value = settings[key]
        if not isinstance(value, Mapping):
            raise bad_request(f"settings.{key} must be an object, got {value!r:.60}")
        _check_keys(value, part, f"settings.{key}")
        kinds = {"debiasing": bool, "opt": numbers.Real, "precision": str}
        for k, v in value.items():
            if not isinstance(v, kinds[k]) or (kinds[k] is numbers.Real and isinstance(v, bool)):
                raise bad_request(f"settings.{key}.{k} has the wrong type: {v!r:.40}")
        out[key] = dict(value)
    return out


def _not_emulated(body: Mapping[str, Any]) -> None:
    if body.get("dry_run", False) is not False:
        if not isinstance(body["dry_run"], bool):
            raise bad_request(f"'dry_run' must be a boolean, got {body['dry_run']!r:.40}")
        raise bad_request("dry runs (dry_run: true) are not emulated; submit without dry_run")
    if "session_id" in body:
        raise bad_request("sessions are not emulated; submit the job without 'session_id'")


def _shots(body: Mapping[str, Any], backend: str) -> int:
    shots = body.get("shots", DEFAULT_SHOTS)
    top = MAX_SHOTS[backend]
    if not _is_int(shots) or not 1 <= shots <= top:
        raise bad_request(f"'shots' must be an integer from 1 to {top:,} on {backend}, "
                          f"got {shots!r:.40}")
    return int(shots)


def _check_limits(n: int, backend: str, model: str) -> None:
    if n > BACKEND_QUBITS[backend]:
        raise bad_request(f"{backend} runs at most {BACKEND_QUBITS[backend]} qubits; this job "
                          f"has {n}")
    if model != "ideal" and n > DENSITY_LIMIT:
        raise bad_request(f"noise model {model!r} is emulated by a density-matrix simulator "
                          f"limited to {DENSITY_LIMIT} qubits; this job has {n} (use the "
                          "simulator with noise model 'ideal', or fewer qubits)")


def _circuits(inp: Mapping[str, Any], version: str, gateset: str
              ) -> list[tuple[str | None, object, str, str, int | None]]:
    """``(name, gates, label, gateset, qubits)`` per circuit of ``input``."""
    if "circuit" in inp:
        return [(None, inp["circuit"], "circuit", gateset, None)]
    items = inp["circuits"]
    if not isinstance(items, list) or not items:
        raise bad_request("input.circuits must be a non-empty list of {name, circuit}")
    item_schema = sub(JOB_BODY[version], "input", "circuits", "[]")
    out = []
    for j, item in enumerate(items):
        where = f"input.circuits[{j}]"
        if not isinstance(item, Mapping) or "circuit" not in item:
            raise bad_request(f"{where} must be an object with a 'circuit' list")
        _check_keys(item, item_schema, where)
        if item.get("name") is not None and not isinstance(item["name"], str):
            raise bad_request(f"{where}.name must be a string")
        if "registers" in item:
            raise bad_request(f"{where}.registers: registers are not emulated")
        own = item.get("gateset", gateset)
        if own not in ("qis", "native"):
            raise bad_request(f"{where}.gateset must be 'qis' or 'native', got {own!r:.40}")
        q = item.get("qubits")
        if q is not None and (not _is_int(q) or q < 1):
            raise bad_request(f"{where}.qubits must be a positive integer, got {q!r:.40}")
        out.append((item.get("name"), item["circuit"], f"circuit {j}", own, q))
    return out


def parse_job_request(body: object, version: str, max_result_entries: int) -> JobRequest:
    """Validate a POST /jobs body of API ``version`` (``"v0.4"`` or ``"v0.3"``); refuse a job
    whose result could exceed ``max_result_entries`` probabilities."""
    if not isinstance(body, Mapping):
        raise bad_request("the job body must be a JSON object")
    schema = JOB_BODY[version]
    _check_keys(body, schema, "the job body")
    _not_emulated(body)
    backend_key = "backend" if version == "v0.4" else "target"
    backend = body.get(backend_key, None if version == "v0.4" else "simulator")
    if backend not in BACKEND_QUBITS:
        raise bad_request(f"{backend_key!r} must be one of {list(BACKEND_QUBITS)}, "
                          f"got {backend!r:.40}")
    shots = _shots(body, backend)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise bad_request(f"'name' must be a string, got {name!r:.40}")
    metadata = _metadata(body)
    settings = _settings(body) if version == "v0.4" else {}
    inp = body.get("input")
    if not isinstance(inp, Mapping):
        raise bad_request("'input' must be an object with 'gateset', 'qubits' and 'circuit' "
                          "(or 'circuits')")
    _check_keys(inp, sub(schema, "input"), "input")
    if "format" in inp and inp["format"] != "ionq.circuit.v0":
        raise bad_request(f"input.format must be 'ionq.circuit.v0', got {inp['format']!r:.40}")
    if ("circuit" in inp) == ("circuits" in inp):
        raise bad_request("input needs exactly one of 'circuit' (one gate list) and 'circuits' "
                          "(a list of {name, circuit})")
    multi = "circuits" in inp
    kind = body.get("type")
    if version == "v0.4" and kind not in (SINGLE, MULTI):
        raise bad_request(f"'type' is required: {SINGLE!r} or {MULTI!r}, got {kind!r:.40}")
    if kind is not None and kind != (MULTI if multi else SINGLE):
        raise bad_request(f"'type' {kind!r} does not fit the input: use {SINGLE!r} with "
                          f"input.circuit and {MULTI!r} with input.circuits")
    if version == "v0.4" and "gateset" not in inp:
        raise bad_request("input.gateset is required: 'qis' or 'native'")
    gateset = inp.get("gateset", "qis")
    if gateset not in ("qis", "native"):
        raise bad_request(f"unknown gateset {gateset!r:.40}; use 'qis' or 'native'")
    named = _circuits(inp, version, gateset)
    qubits = inp.get("qubits")
    if qubits is None:
        qubits = _infer_qubits([(n, g, lb, gs) for n, g, lb, gs, _ in named])
    elif not _is_int(qubits) or qubits < 1:
        raise bad_request(f"input.qubits must be a positive integer, got {qubits!r:.40}")
    widths = [int(q) if q is not None else int(qubits) for *_, q in named]
    noise, model, seed = _noise(body, backend)
    for n in {int(qubits), *widths}:
        _check_limits(n, backend, model)
    entries = result_entries(widths, shots, backend == "simulator" and model == "ideal")
    if entries > max_result_entries:
        raise bad_request(f"this job's result could hold {entries:,} probabilities; the "
                          f"emulator computes at most {max_result_entries:,} per job "
                          "(max_result_entries): use fewer qubits, shots or circuits")
    specs = tuple(CircuitSpec(nm, _parse_circuit(label, g, w, gs))
                  for (nm, g, label, gs, _), w in zip(named, widths, strict=True))
    return JobRequest(multi, backend, shots, name, metadata, noise, model, seed, int(qubits),
                      specs, settings)
