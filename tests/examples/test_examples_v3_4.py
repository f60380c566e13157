"""examples/examples_v3_4.py (quick mode) against the local IonQ-compatible server: job and
request counts, the modelled latency's lower bounds, native gates equal to the original
unitary, caches serving repeats, job sizes following the measured queue waits, circuit counts
of training and validation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.examples.runner import run_example


@pytest.fixture(scope="module")
def run() -> tuple[str, dict[str, Any]]:
    return run_example("examples_v3_4.py", "--quick", "--json")


def test_batch_client(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["1"]
    assert r["physical_limit_s"] == pytest.approx(0.5 + 1.3 + 20 * 0.575)
    multi, single = r["one multi-circuit job"], r["one job per circuit, one after another"]
    assert (multi["jobs"], single["jobs"]) == (1, 20)
    assert multi["requests"] < single["requests"]
    assert multi["max_error"] < 1e-12 and single["max_error"] < 1e-12  # ideal: exact
    # the server's modelled time is a floor (times are printed unscaled): one request, one
    # queue wait and 20 circuits; or 20 of each, one after another
    assert multi["seconds"] >= 0.99 * r["physical_limit_s"]
    assert single["seconds"] >= 0.99 * 20 * (0.5 + 1.3 + 0.575)


def test_native_gates(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["2"]
    assert set(r["native_gates"]) <= {"GPI", "GPI2", "MS"}
    assert r["unitary_error"] < 1e-9 and r["probability_error"] < 1e-12
    assert r["server_error"] < 1e-12
    assert r["sent_gate_counts"] == [r["one_qubit_after"], r["two_qubit_after"]]
    assert r["two_qubit_after"] == r["two_qubit_before"]  # one MS per CNOT


def test_smart_cache(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["3"]
    n = r["samples"]
    assert r["rebuilt every time"]["builds"] == n and r["rebuilt every time"]["hits"] == 0
    assert r["SmartCircuitCache"]["builds"] == 1 and r["SmartCircuitCache"]["hits"] == n - 1
    assert r["identical"] is True


def test_manager_v34(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["4"]
    assert r["jobs"] == r["server_jobs"] == 1 and r["circuits_executed"] == 20
    assert r["cache_hits"] == 20 and r["identical"] is True and r["max_error"] < 1e-12
    assert r["template_hit_rate"] == pytest.approx(0.5)


def test_queue_manager(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["5"]
    assert r["rule"] == {"0.4": 20, "2.0": 10, "5.0": 5}
    for batch in r["live"]:
        wait = batch["decided_from"]
        assert batch["chosen"] == (20 if wait is None or wait < 1 else 10 if wait <= 3 else 5)
        assert batch["job_sizes"] == [batch["chosen"]] * (20 // batch["chosen"])
        assert batch["measured_waits"] == pytest.approx([batch["queue_wait"]], abs=1e-5)


def test_configuration_and_training(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["6"]
    assert r["switched_on"] == r["v34_features"] and len(r["deprecations"]) == 1
    train, n, batch = r["training"], r["parameters"], r["batch_size"]
    assert train["requested"] == r["steps"] * batch * (1 + 2 * n)
    # the first step's unshifted circuits were run by the validation before training
    assert train["requested"] - train["run"] == batch
    assert train["server_circuits"] == train["run"] and train["server_jobs"] == train["jobs"]
    assert max(r["job_sizes"]) <= 20
    assert r["repeat_validation"]["run"] == 0 and r["validation"]["run"] == 16
    initial, first, second = r["validation_losses"]
    assert second == first and first < initial
