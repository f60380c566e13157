"""examples/examples_v3_3.py (quick mode): circuit counts follow from the methods (SPSA 3,
parameter shift 1 + 2N per sample), sampled values lie within shot noise of exact ones, the
cache serves repeats, the Ising energy respects the variational bound."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.examples.runner import floats, run_example, section


@pytest.fixture(scope="module")
def run() -> tuple[str, dict[str, Any]]:
    return run_example("examples_v3_3.py", "--quick", "--json")


def test_spsa(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["1"]
    assert r["parameters"] == 32 and r["spsa_circuits"] == 3
    assert r["parameter_shift_circuits"] == 1 + 2 * 32
    # SPSA is unbiased: the mean of many estimates points along the exact gradient
    assert r["cosine_mean"] > 0.5 and r["cosine_mean"] > r["cosine_one"]


def test_batch_manager(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["2"]
    assert r["circuits"] == 96 and r["jobs"] == 1 and r["jobs_of_10"] == 10
    assert r["max_z0_error"] < 5 / np.sqrt(1000)  # 1000 shots: standard error <= 1/sqrt(1000)
    assert r["same_results"] is True


def test_circuit_cache(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["3"]
    assert (r["jobs_first"], r["jobs_second"], r["cache_hits"]) == (1, 0, 96)
    assert r["identical"] is True and r["found"] is True and r["cached_results"] == 96
    assert 0 < r["result_hit_rate"] <= 1


def test_hardware_efficient(run: tuple[str, dict[str, Any]]) -> None:
    assert run[1]["4"] == {"hardware_efficient": 8 * 2 * 2, "v32_layer": 8 * 2 * 3}


def test_adaptive_optimizer(run: tuple[str, dict[str, Any]]) -> None:
    out, s = run
    r = s["5"]
    energies = r["energies"]
    # the energy of any state is at least the ground energy -3 of the 4-qubit Ising chain
    assert min(energies) >= -3 - 1e-9
    assert energies[-1] < -2.9 < energies[0]
    assert r["methods"][:10] == ["spsa"] * 10 and r["methods"][10] == "parameter_shift"
    switched = r["switched_at"]
    assert set(r["methods"][switched:]) == {"natural_gradient"}
    assert floats(r"energy: [0-9.-]+ -> ([0-9.-]+)", section(out, "5. Adaptive")) == \
        [round(energies[-1], 4)]


def test_training(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["6"]
    per_sample = {"spsa": 3, "parameter_shift": 1 + 2 * 32}
    for method in ("spsa", "parameter_shift", "adaptive"):
        m = r[method]
        steps = m["steps_by_method"]
        assert sum(steps.values()) == m["batches"]
        # every batch of 10 costs its method's circuits per sample, times 10
        expected = sum(10 * per_sample[k] * n for k, n in steps.items()) / m["batches"]
        assert m["avg_circuits"] == pytest.approx(expected)
        assert m["circuits_run"] == pytest.approx(m["avg_circuits"] * m["batches"])
        assert 0 <= m["cache_hit_rate"] <= 1
    assert r["parameter_shift"]["losses"][-1] < r["parameter_shift"]["losses"][0]
    assert r["circuit_ratio"] == pytest.approx(650 / 30)
