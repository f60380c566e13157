"""IonQ's documented HTTP shapes, written once as data, and a checker for them.

Sources: IonQ's v0.4 OpenAPI (``https://api.ionq.co/v0.4/api-docs``, the "Get job", "Get jobs",
"Create job", "Cancel a job", "Delete job" and "Get Backends" references, April/May 2026) and
the v0.3 API reference pages (job, backends, error codes). The emulator sends exactly these
fields; ``tests/backends/ionq/test_emulator_contract.py`` drives every endpoint in both versions
and checks each response with :func:`violations`, so a field IonQ does not send can never creep
in and hide a client bug. The request-body field sets (``JOB_BODY``) are what
:mod:`.emulator_requests` accepts: any other field is a 400, as IonQ answers it.

Notes on choices the documents leave open: ``noise`` appears only on simulator jobs ("Only
present in the response when `backend` is simulator"); a job listed by ``GET /jobs`` carries
no ``child_job_ids`` (the list's ``BaseJob`` schema has none); a v0.4 ``failure`` is
``{code, message}`` while a v0.3 one is ``{error, code}``; v0.3 times are Unix seconds and v0.4
times ISO-8601 strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

__all__ = ["JOB_BODY", "RESPONSES", "STATUSES", "Field", "sub", "violations"]


@dataclass(frozen=True)
class Field:
    """One documented value. ``kind``: string, iso8601, integer, number, boolean, object or
    array. An object has fixed ``fields`` (other keys are undocumented), or free keys whose
    values are all ``values``, or neither (any JSON object). ``required``: the key must be
    present in its object; ``nullable``: null is allowed."""

    kind: str
    required: bool = True
    nullable: bool = False
    fields: Mapping[str, Field] | None = None
    values: Field | None = None
    items: Field | None = None
    choices: tuple[Any, ...] | None = None


def _obj(fields: Mapping[str, Field]) -> Field:
    return Field("object", fields=MappingProxyType(dict(fields)))


def opt(f: Field) -> Field:
    """The field may be absent."""
    return replace(f, required=False)


def null(f: Field) -> Field:
    """The field may be null."""
    return replace(f, nullable=True)


STR, INT, NUM, BOOL = Field("string"), Field("integer"), Field("number"), Field("boolean")
ISO = Field("iso8601")
ANY_OBJECT = Field("object")
METADATA = Field("object", values=STR)
GATE_COUNTS = _obj({"1q": INT, "2q": INT})
NOISE = _obj({"model": STR, "seed": opt(INT)})
STATUSES = {"v0.4": ("submitted", "ready", "started", "completed", "failed", "canceled"),
            "v0.3": ("submitted", "ready", "running", "completed", "failed", "canceled")}

# v0.4 "Get jobs" items (BaseJob); "Get job" adds child_job_ids.
_JOB_V04 = {
    "id": STR, "status": Field("string", choices=STATUSES["v0.4"]), "type": STR,
    "backend": STR, "dry_run": BOOL, "submitter_id": STR, "project_id": null(STR),
    "parent_job_id": null(STR), "session_id": null(STR), "metadata": null(METADATA),
    "name": null(STR), "submitted_at": ISO, "started_at": null(ISO),
    "completed_at": null(ISO), "predicted_execution_duration_ms": null(INT),
    "predicted_wait_time_ms": null(INT), "execution_duration_ms": null(INT),
    "shots": opt(INT), "noise": opt(NOISE), "failure": null(_obj({"code": STR, "message": STR})),
    "settings": ANY_OBJECT,
    "stats": _obj({"qubits": INT, "circuits": INT, "gate_counts": GATE_COUNTS}),
    "results": null(_obj({"probabilities": _obj({"url": STR})})),
    "output": ANY_OBJECT,
}
JOB_V04_LISTED = _obj(_JOB_V04)
JOB_V04 = _obj({**_JOB_V04, "child_job_ids": null(Field("array", items=STR))})

# v0.3 "Get a specific Job" / "Get Jobs": optional fields are absent when they do not apply.
JOB_V03 = _obj({
    "id": STR, "status": Field("string", choices=STATUSES["v0.3"]), "request": INT,
    "target": STR, "shots": INT, "gate_counts": GATE_COUNTS, "qubits": INT, "circuits": INT,
    "name": opt(STR), "metadata": opt(METADATA), "noise": opt(NOISE), "start": opt(INT),
    "response": opt(INT), "execution_time": opt(INT),
    "children": opt(Field("array", items=STR)), "results_url": opt(STR),
    "failure": opt(_obj({"error": STR, "code": STR})),
    # documented, never sent by the emulator (it does not price, mitigate or warn):
    "error_mitigation": opt(ANY_OBJECT), "cost_usd": opt(NUM), "cost_model": opt(STR),
    "cost_credit": opt(NUM), "estimated_cost_usd": opt(NUM), "estimated_cost_credit": opt(NUM),
    "predicted_execution_time": opt(INT), "warning": opt(ANY_OBJECT), "dry_run": opt(BOOL),
})

BACKEND = {
    "v0.4": _obj({"backend": STR, "status": STR, "qubits": INT, "average_queue_time": NUM,
                  "last_updated": ISO, "characterization_id": opt(STR),
                  "degraded": opt(BOOL), "kw": opt(NUM), "location": opt(STR)}),
    "v0.3": _obj({"backend": STR, "status": STR, "qubits": INT, "average_queue_time": NUM,
                  "last_updated": INT, "characterization_url": opt(STR),
                  "degraded": opt(BOOL)}),
}
ERROR = _obj({"error": STR, "message": STR, "statusCode": INT})
PROBABILITIES = Field("object", values=NUM)

RESPONSES: Mapping[tuple[str, str], Field] = MappingProxyType({
    ("backends", "v0.4"): Field("array", items=BACKEND["v0.4"]),
    ("backends", "v0.3"): Field("array", items=BACKEND["v0.3"]),
    ("create", "v0.4"): _obj({"id": STR, "status": STR, "session_id": null(STR)}),
    ("create", "v0.3"): _obj({"id": STR, "status": STR}),
    ("get", "v0.4"): JOB_V04,
    ("get", "v0.3"): JOB_V03,
    ("list", "v0.4"): _obj({"jobs": Field("array", items=JOB_V04_LISTED), "next": null(STR)}),
    ("list", "v0.3"): _obj({"jobs": Field("array", items=JOB_V03), "next": opt(STR)}),
    ("cancel", "v0.4"): _obj({"id": STR, "status": STR}),
    ("cancel", "v0.3"): _obj({"id": STR, "status": STR}),
    ("delete", "v0.4"): _obj({"id": STR, "status": Field("string", choices=("deleted",))}),
    ("delete", "v0.3"): _obj({"id": STR, "status": Field("string", choices=("deleted",))}),
    ("results", "v0.4"): PROBABILITIES,
    ("results", "v0.3"): PROBABILITIES,
    ("aggregated", "v0.4"): Field("object", values=PROBABILITIES),
    ("aggregated", "v0.3"): Field("object", values=PROBABILITIES),
    ("error", "v0.4"): ERROR,
    ("error", "v0.3"): ERROR,
})

# POST /jobs bodies: the documented fields (IonQ's schemas say additionalProperties: false).
_SETTINGS = _obj({"error_mitigation": opt(_obj({"debiasing": opt(BOOL)})),
                  "compilation": opt(_obj({"opt": opt(NUM), "precision": opt(STR)}))})
_ITEM = {"v0.4": _obj({"name": opt(STR), "circuit": Field("array"), "gateset": opt(STR),
                       "qubits": opt(INT), "registers": opt(ANY_OBJECT)}),
         "v0.3": _obj({"name": opt(STR), "circuit": Field("array"), "gateset": opt(STR)})}
JOB_BODY: Mapping[str, Field] = MappingProxyType({
    "v0.4": _obj({"type": STR, "backend": STR, "shots": opt(INT), "name": opt(STR),
                  "metadata": opt(METADATA), "noise": opt(NOISE), "settings": opt(_SETTINGS),
                  "dry_run": opt(BOOL), "session_id": opt(STR),
                  "input": _obj({"gateset": STR, "qubits": opt(INT),
                                 "circuit": opt(Field("array")),
                                 "circuits": opt(Field("array", items=_ITEM["v0.4"]))})}),
    "v0.3": _obj({"target": opt(STR), "shots": opt(INT), "name": opt(STR),
                  "metadata": opt(METADATA), "noise": opt(NOISE),
                  "input": _obj({"format": opt(STR), "gateset": opt(STR), "qubits": opt(INT),
                                 "circuit": opt(Field("array")),
                                 "circuits": opt(Field("array", items=_ITEM["v0.3"]))})}),
})
# one gate object per gate set (IonQ's Gate_QisGate / Gate_NativeGate)
GATE_KEYS = {"qis": frozenset({"gate", "target", "targets", "control", "controls", "rotation"}),
             "native": frozenset({"gate", "target", "targets", "controls", "phase", "phases",
                                  "angle", "rotation"})}


def sub(field: Field, *path: str) -> Field:
    """The field at ``path`` below ``field``: object keys, ``"[]"`` for an array's items."""
    for key in path:
        nxt = field.items if key == "[]" else (field.fields or {}).get(key)
        if nxt is None:
            raise KeyError(f"no {key!r} in the schema at {path}")
        field = nxt
    return field


def _kind_ok(value: object, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "iso8601":
        if not isinstance(value, str):
            return False
        try:  # Python 3.10's fromisoformat does not read a trailing "Z"
            datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
        except ValueError:
            return False
        return True
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, Mapping)
    if kind == "array":
        return isinstance(value, list)
    raise ValueError(f"unknown schema kind {kind!r}")


def violations(value: object, field: Field, path: str = "$") -> list[str]:
    """Every way ``value`` departs from ``field``: wrong types, missing required keys and keys
    the document does not define. Empty when it conforms."""
    if value is None:
        return [] if field.nullable else [f"{path}: null is not allowed ({field.kind})"]
    if not _kind_ok(value, field.kind):
        return [f"{path}: expected {field.kind}, got {type(value).__name__} {value!r:.60}"]
    if field.choices is not None and value not in field.choices:
        return [f"{path}: {value!r} is not one of {list(field.choices)}"]
    out: list[str] = []
    if isinstance(value, Mapping):
        if field.fields is not None:
            for key in value:
                if key not in field.fields:
                    out.append(f"{path}.{key}: not a documented field")
            for key, sub in field.fields.items():
                if key in value:
                    out += violations(value[key], sub, f"{path}.{key}")
                elif sub.required:
                    out.append(f"{path}.{key}: required field missing")
        elif field.values is not None:
            for key, item in value.items():
                out += violations(item, field.values, f"{path}[{key!r}]")
    elif isinstance(value, list) and field.items is not None:
        for i, item in enumerate(value):
            out += violations(item, field.items, f"{path}[{i}]")
    return out
