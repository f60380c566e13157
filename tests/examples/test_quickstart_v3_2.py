"""examples/quickstart_v3_2.py runs as the spec's quick start: its printed losses are the run's,
training lowers the loss and the model classifies the training data well above chance."""

from __future__ import annotations

import re

import numpy as np

from tests.examples.runner import floats, run_example


def test_quick_start_trains_and_reports_consistent_numbers() -> None:
    out, summary = run_example("quickstart_v3_2.py", "--json")
    epochs = re.findall(r"^Epoch (\d+)/10: Loss = ([0-9.]+)$", out, re.M)
    assert [int(e) for e, _ in epochs] == list(range(1, 11))
    printed = [float(v) for _, v in epochs]
    np.testing.assert_allclose(printed, summary["losses"], atol=5e-5)  # printed to 4 places
    assert floats(r"^Final loss: ([0-9.]+)$", out) == [round(summary["losses"][-1], 4)]
    assert printed[-1] < printed[0] - 0.1  # a learnable task: training lowers the loss
    accuracy = floats(r"^Training accuracy: ([0-9.]+) \(chance 0.5\)$", out)
    assert accuracy == [round(summary["accuracy"], 4)] and accuracy[0] >= 0.8
    # 4 qubits x 2 layers x 3 rotations; amplitude encoding gives unit vectors of 2^4 entries
    assert summary["parameters"] == 24 and summary["encoded_shape"] == [50, 16]
    assert summary["encoded_norm_error"] < 1e-12
    assert 0 < summary["gradient_norm"] < np.linalg.norm([1.0] * 24)
