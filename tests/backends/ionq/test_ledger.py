"""JobLedger: deterministic request keys, persistence, atomic rewrites."""

from __future__ import annotations

import json
import os

import pytest

from q_store.backends.ionq.ledger import JobLedger, canonical_json, request_fingerprint
from q_store.errors import ConfigError

REQUEST = {"backend": "simulator", "shots": 100, "noise": {"model": "ideal"},
           "input": {"gateset": "qis", "qubits": 2,
                     "circuit": [{"gate": "rx", "target": 0, "rotation": 0.1}]}}


def test_fingerprint_is_deterministic_and_sensitive() -> None:
    reordered = dict(reversed(list(REQUEST.items())))
    assert request_fingerprint(REQUEST) == request_fingerprint(reordered)
    assert len(request_fingerprint(REQUEST)) == 64
    other_angle = json.loads(canonical_json(REQUEST).replace("0.1", "0.1000000000000001"))
    assert request_fingerprint(other_angle) != request_fingerprint(REQUEST)
    assert request_fingerprint({**REQUEST, "shots": 101}) != request_fingerprint(REQUEST)
    assert request_fingerprint(REQUEST, "run-a") != request_fingerprint(REQUEST, "run-b")
    with pytest.raises(ConfigError, match="run_key"):
        request_fingerprint(REQUEST, 3)  # type: ignore[arg-type]


def test_reserve_record_forget_persist(tmp_path) -> None:
    path = tmp_path / "sub" / "ledger.json"
    ledger = JobLedger(path)
    assert len(ledger) == 0 and not path.exists()
    reserved = ledger.reserve("k1")
    assert reserved.job_id is None and len(reserved.token) == 32
    again = JobLedger(path).get("k1")
    assert again is not None and again.token == reserved.token and again.job_id is None
    ledger.record("k1", "job-1", reserved.token)
    ledger.record("k2", "job-2", "t2")
    reloaded = JobLedger(path)
    assert reloaded.get("k1").job_id == "job-1"  # type: ignore[union-attr]
    assert reloaded.get("k1").token == reserved.token  # type: ignore[union-attr]
    assert sorted(reloaded.job_ids()) == ["job-1", "job-2"]
    assert "k2" in reloaded and sorted(reloaded) == ["k1", "k2"]
    reloaded.forget("k1")
    assert JobLedger(path).get("k1") is None and len(JobLedger(path)) == 1
    assert [p.name for p in path.parent.iterdir()] == ["ledger.json"]  # no temporary files


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ledger.json"
    ledger = JobLedger(path)
    ledger.record("k1", "job-1", "t1")
    before = path.read_text()

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        ledger.record("k2", "job-2", "t2")
    monkeypatch.undo()
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]


def test_corrupt_or_foreign_file_is_refused(tmp_path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="unreadable"):
        JobLedger(path)
    path.write_text(json.dumps({"jobs": {}}))
    with pytest.raises(ConfigError, match="unreadable"):
        JobLedger(path)


def test_record_needs_a_job_id(tmp_path) -> None:
    with pytest.raises(ConfigError, match="job_id"):
        JobLedger(tmp_path / "l.json").record("k", "", "t")
