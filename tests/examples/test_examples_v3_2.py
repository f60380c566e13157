"""examples/examples_v3_2.py (the six v3.2 examples, quick mode) prints results that hold up:
gradient cost 1 + 2N and equal to the adjoint gradient, learning on held-out data, exact
backends agreeing, frozen weights frozen, IonQ fine-tuning equal to local training."""

from __future__ import annotations

from typing import Any

import pytest

from tests.examples.runner import floats, run_example, section


@pytest.fixture(scope="module")
def run() -> tuple[str, dict[str, Any]]:
    return run_example("examples_v3_2.py", "--quick", "--json")


def test_basic_qnn(run: tuple[str, dict[str, Any]]) -> None:
    out, s = run
    r = s["1"]
    assert r["gradient_circuits"] == 1 + 2 * r["parameters"] == 49
    assert r["gradient_vs_adjoint"] < 1e-8  # parameter shift is exact for these gates
    assert r["mse_after"] < 0.5 * r["mse_before"]
    text = section(out, "Example 1")
    assert floats(r"epoch \d+: loss ([0-9.]+)", text) == [round(v, 4) for v in r["losses"]]


def test_autoencoder(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["2"]
    assert r["qubits"] == 3 and r["losses"][-1] < r["losses"][0]
    assert -1 <= r["trash_z"] <= 1
    # a fidelity is in [0, 1]; training raises the round trip's on unseen data
    assert 0 <= r["fidelity_before"] < r["fidelity_test"] <= 1
    assert r["fidelity_test"] > 0.7


def test_pattern_recognition(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["3"]
    assert r["chance"] == pytest.approx(1 / 3)
    assert r["test_accuracy"] >= 2 * r["chance"]
    assert r["losses"][-1] < r["losses"][0]


def test_multi_backend(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["4"]
    ideal = r["mock_ideal"]
    assert ideal["methods"] == ["adjoint"] and ideal["circuits_per_batch"] == 2 * 8
    noisy = r["mock_noisy"]
    assert noisy["methods"] == ["parameter_shift"] and noisy["circuits_per_batch"] == 8 * 49
    assert noisy["max_loss_difference_from_ideal"] > 1e-5  # noise changes the losses
    if "cirq" in r:  # exact too: the same losses as the ideal simulator
        assert r["cirq"]["max_loss_difference_from_ideal"] < 1e-9


def test_transfer_learning(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["5"]
    assert r["frozen_unchanged"] is True and r["trainable_moved"] > 0
    assert r["trainable"] == r["parameters"] - 4
    assert r["task_a_losses"][-1] < r["task_a_losses"][0]
    assert r["task_b_pretrained"] < r["task_b_untrained"]  # pre-training on A helps B
    assert r["task_b_losses"][-1] <= r["task_b_pretrained"]
    assert r["learning_rates"][-1] == 0.001


def test_train_once_run_anywhere(run: tuple[str, dict[str, Any]]) -> None:
    r = run[1]["6"]
    assert r["methods"] == ["parameter_shift"]
    assert r["max_difference"] < 1e-9  # IonQ's ideal simulator is exact
    # 16 samples x (1 + 2 x 24) circuits per epoch
    assert r["estimated_circuits"] == r["trainer_circuits"] == r["server_circuits"] \
        == r["ionq_epochs"] * 16 * 49
    assert r["loss_ionq"] == pytest.approx(r["loss_local"], abs=1e-9)
    assert len(r["losses"]) == r["local_epochs"] + r["ionq_epochs"]
