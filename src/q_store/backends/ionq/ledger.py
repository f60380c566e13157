"""A small JSON ledger of submitted IonQ jobs, so that a restarted run re-attaches to its jobs
instead of paying for them twice.

Each entry maps a request key (a deterministic fingerprint of what was asked: backend, shots,
noise, gate set, serialized circuits and a caller-supplied run key, plus how many identical
requests came before it in the run) to the idempotency token sent with the job and, once IonQ
answered, the job id. The token is written *before* the job is submitted, so a crash between
``POST /jobs`` and recording its id is recovered by looking the token up. Every change rewrites
the file atomically (temporary file, fsync, ``os.replace``); one process writes a ledger at a
time. The ledger holds no credentials.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from q_store.errors import ConfigError

__all__ = ["JobLedger", "LedgerEntry", "canonical_json", "request_fingerprint"]

_FORMAT = "q-store-ionq-job-ledger"
_VERSION = 1


def canonical_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, floats as round-trip reprs)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def request_fingerprint(request: Mapping[str, Any], run_key: str = "") -> str:
    """SHA-256 of a request's canonical JSON and the run key."""
    if not isinstance(run_key, str):
        raise ConfigError(f"run_key must be a string, got {type(run_key).__name__}")
    text = canonical_json({"request": request, "run_key": run_key})
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    """``token`` sent in the job's metadata; ``job_id`` once IonQ returned one; ``time`` of the
    last change (unix seconds)."""

    token: str
    job_id: str | None
    time: float


class JobLedger:
    """Request key -> :class:`LedgerEntry`, persisted at ``path`` (created on first write)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries: dict[str, LedgerEntry] = self._load()

    def __repr__(self) -> str:
        return f"JobLedger({str(self.path)!r}, {len(self)} entries)"

    def _load(self) -> dict[str, LedgerEntry]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the job ledger {self.path}: {exc}") from None
        try:
            data = json.loads(text)
            if data.get("format") != _FORMAT or data.get("version") != _VERSION:
                raise ValueError(f"not a version-{_VERSION} {_FORMAT} file")
            return {str(k): LedgerEntry(str(v["token"]),
                                        None if v["job_id"] is None else str(v["job_id"]),
                                        float(v["time"]))
                    for k, v in data["jobs"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"the job ledger {self.path} is unreadable ({exc}); fix it, or "
                              "move it away to start a new one (jobs it recorded would then "
                              "be submitted, and paid for, again)") from None

    def _save(self) -> None:
        data = {"format": _FORMAT, "version": _VERSION,
                "jobs": {k: asdict(v) for k, v in sorted(self._entries.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp",
                                   dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(data, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> LedgerEntry | None:
        with self._lock:
            return self._entries.get(key)

    def reserve(self, key: str) -> LedgerEntry:
        """Record a fresh idempotency token for ``key`` before its job is submitted."""
        with self._lock:
            entry = LedgerEntry(uuid.uuid4().hex, None, time.time())
            self._entries[key] = entry
            self._save()
            return entry

    def record(self, key: str, job_id: str, token: str) -> LedgerEntry:
        """Record the job id IonQ gave ``key``'s submission."""
        if not isinstance(job_id, str) or not job_id:
            raise ConfigError(f"job_id must be a non-empty string, got {job_id!r}")
        with self._lock:
            entry = LedgerEntry(token, job_id, time.time())
            self._entries[key] = entry
            self._save()
            return entry

    def forget(self, key: str) -> None:
        """Drop ``key`` (its next submission creates a new job)."""
        with self._lock:
            if self._entries.pop(key, None) is not None:
                self._save()

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._entries))

    def job_ids(self) -> list[str]:
        """Every recorded job id."""
        with self._lock:
            return [e.job_id for e in self._entries.values() if e.job_id is not None]
