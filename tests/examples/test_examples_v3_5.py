"""examples/examples_v3_5.py (quick mode) on local backends: several backends (one failing a
job) train exactly as one; circuit optimisation sends fewer gates for the same losses while the
depth grows; adaptive shots stay in bounds and add up; the natural-gradient step equals one
computed from an independent metric; the complete configuration feeds the dashboard the
tracker's events."""

from __future__ import annotations

import re
from typing import Any

import pytest

from q_store.ml.config import V35_FEATURES
from tests.examples.runner import floats, run_example, section


@pytest.fixture(scope="module")
def run() -> tuple[str, dict[str, Any]]:
    return run_example("examples_v3_5.py", "--quick", "--json")


def test_feature_sets(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["1"]
    assert r["switched_on"] == sorted(V35_FEATURES) == r["v35_features"]
    assert r["explicit_wins"] is True and r["deprecations"] == 1


def test_multi_backend(run: tuple[str, dict[str, Any]]) -> None:
    out, s = run
    r = s["2"]
    # exact backends and per-circuit results: the split and the failover change nothing
    assert r["max_difference"] < 1e-12 and len(r["losses"]) == 2
    assert r["circuits"] == r["reference_circuits"] == sum(
        b["circuits"] for b in r["backends"].values())
    assert all(b["circuits"] > 0 for b in r["backends"].values())
    assert r["server_circuits"] == [r["backends"]["ionq-1"]["circuits"],
                                    r["backends"]["ionq-2"]["circuits"]]
    assert r["failed_jobs"] == 1 and r["failovers"] >= 1
    assert r["backends"]["ionq-2"]["failures"] == 1
    text = section(out, "2. Multi-backend")
    assert re.search(r"failed jobs: 1 \(ionq-2\)", text)


def test_depth_and_optimization(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["3"]
    plain, opt = r["as built"], r["optimised"]
    for x in (plain, opt):  # exponential schedule from 2 to 4 over 4 epochs, never shrinking
        assert x["depths"] == [2, 3, 3, 4]
        gates = x["training_gates"]
        assert all(b - a == 12 * (d1 - d0) for a, b, d0, d1 in
                   zip(gates, gates[1:], x["depths"], x["depths"][1:], strict=False))
    assert r["max_difference"] < 1e-9  # the optimiser's rewrites are exact
    assert opt["circuits_sent"] == plain["circuits_sent"]
    assert opt["gates_sent"] < plain["gates_sent"]
    assert opt["two_qubit_sent"] <= plain["two_qubit_sent"]
    assert plain["optimizer_before"] == 0 and opt["optimizer_before"] == plain["gates_sent"]
    assert plain["losses"][-1] < plain["losses"][0]


def test_adaptive_shots(run: tuple[str, dict[str, Any]]) -> None:
    out, s = run
    fixed, adaptive = s["4"]["fixed 1000"], s["4"]["adaptive"]
    assert set(fixed["shots_per_step"]) == {1000} and fixed["decisions"] == []
    assert fixed["total_shots"] == 1000 * fixed["circuits"]
    steps = adaptive["shots_per_step"]
    assert steps[0] == 1000 and all(500 <= n <= 2000 for n in steps)  # base, min, max
    decisions = adaptive["decisions"]
    assert [d["shots"] for d in decisions] == steps
    assert [d["next_shots"] for d in decisions[:-1]] == steps[1:]
    per_step = adaptive["circuits"] // len(steps)  # every step: 10 samples x 49 circuits
    assert per_step == 10 * 49 and adaptive["total_shots"] == per_step * sum(steps)
    for x in (fixed, adaptive):
        assert x["losses"][-1] < x["losses"][0]
    text = section(out, "4. Adaptive shot")
    ratio = floats(r"adaptive used ([0-9.]+)x", text)
    assert ratio == [round(adaptive["total_shots"] / fixed["total_shots"], 2)]


def test_natural_gradient(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["5"]
    assert r["step_error"] < 1e-7 and r["plain_step_difference"] > 1e-3
    natural, plain = r["natural gradient + SGD"], r["plain gradient + SGD"]
    assert natural["losses"][-1] < natural["losses"][0]
    # the same optimiser and step size: the metric is what makes the difference
    assert natural["losses"][-1] < plain["losses"][-1]
    assert natural["circuit_runs"] > plain["circuit_runs"]  # the metric costs circuits


def test_complete_configuration(run: tuple[str, dict[str, Any]]) -> None:
    out, s = run
    r = s["6"]
    assert r["page_status"] == 200
    for kind, n in r["tracked_kinds"].items():  # the dashboard served every tracked event
        assert n > 0 and r["served_kinds"].get(kind) == n
    assert r["tracked_kinds"]["epoch"] == len(r["losses"]) == 2
    assert r["tracked_kinds"]["shots"] == r["tracked_kinds"]["step"]
    assert all(n > 0 for n in r["backend_circuits"].values())
    assert sum(r["backend_circuits"].values()) == r["circuits_run"]
    text = section(out, "6. The complete")
    for title in ("Q-Store performance report", "Q-Store backend statistics",
                  "circuits_per_second"):
        assert title in text
