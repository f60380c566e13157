"""Performance reports as tables: ``trainer.print_performance_report()`` and the tracker's,
rich tables where rich is installed, aligned text otherwise; the numbers are the statistics'."""

from __future__ import annotations

import builtins
import io

import numpy as np

from q_store.execution.report import format_value
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig


def _trained():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 2))
    y = (x[:, 0] > 0).astype(int)
    trainer = QuantumTrainer(TrainingConfig(epochs=2, batch_size=4, seed=0,
                                            gradient_method="parameter_shift"))
    trainer.fit(QuantumModel(2, 2, 1, task="classification", seed=0), (x, y))
    return trainer


def _rows(text: str) -> dict[str, str]:
    """metric -> value cells of the printed tables (rich box characters or plain text)."""
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.replace("│", "|").split("|") if c.strip()]
        if len(cells) == 2:
            out[cells[0]] = cells[1]
        elif line.startswith("  ") and len(line.split()) >= 2:
            key, value = line.split(maxsplit=1)
            out[key] = value.strip()
    return out


def test_the_trainer_report_shows_the_statistics_as_tables():
    trainer = _trained()
    out = io.StringIO()
    trainer.print_performance_report(out)
    text = out.getvalue()
    assert "Q-Store training report" in text and "Q-Store performance report" in text
    assert "┃" in text  # rich's table
    rows = _rows(text)
    stats = trainer.performance_tracker.get_statistics()
    assert rows["epochs"] == "2" and rows["optimizer_steps"] == str(trainer.step) == "6"
    assert rows["circuits_run"] == format_value(stats["circuits_run"])
    assert rows["steps"] == "6"
    assert rows["cache_hit_rate"] == format_value(stats["cache_hit_rate"], "%")
    assert rows["connection_reuse_rate"] == "n/a"  # nobody reported it: not made up


def test_without_rich_the_report_is_aligned_text(monkeypatch):
    trainer = _trained()
    real_import = builtins.__import__

    def no_rich(name, *args, **kwargs):
        if name.startswith("rich"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rich)
    out = io.StringIO()
    trainer.performance_tracker.print_performance_report(out)
    text = out.getvalue()
    assert "┃" not in text and text.startswith("Q-Store performance report\n")
    rows = _rows(text)
    assert rows["steps"] == "6" and rows["jobs"] == "0"


def test_values_are_formatted_for_people():
    assert format_value(None) == "n/a"
    assert format_value(0.25, "%") == "25.0 %"
    assert format_value(1234.0) == "1,234"
    assert format_value(0.0123456, "ms") == "0.01235 ms"
    assert format_value(1.5, "USD") == "$1.5000"
