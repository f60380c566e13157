"""The demo job learns: its loss falls well below the variance of the targets."""

from __future__ import annotations

from q_store.cli import main
from q_store.demo import run_demo


def test_demo_training_lowers_the_loss():
    lines: list[str] = []
    out = run_demo(log=lines.append)
    assert out["final_loss"] < 0.2 * out["initial_loss"]
    assert out["final_loss"] < 0.1 * out["target_variance"]
    assert sum(line.startswith("epoch") for line in lines) == 5


def test_cli_demo_runs(capsys):
    assert main(["demo", "--epochs", "1", "--samples", "20"]) == 0
    assert "epoch 1: MSE" in capsys.readouterr().out
