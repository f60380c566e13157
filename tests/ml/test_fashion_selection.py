"""The classifier's 6-qubit defaults are the recorded cross-validation winner, and that
selection saw training data only (``benchmarks/bench_digits.py --select``)."""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from q_store.models import DEFAULTS

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
RESULTS = BENCHMARKS / "results"


def _bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # bench_digits imports its sibling benchenv
    return importlib.import_module("bench_digits")


def _fits() -> list[dict]:
    text = (RESULTS / "digits_selection.fits.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_defaults_are_the_recorded_cross_validation_winner() -> None:
    """Recomputed from the individual fold fits: every grid candidate has all 5 folds of split
    0's training part, the best mean validation accuracy is the recorded choice, and that
    choice is ``DEFAULTS`` field by field."""
    rec = json.loads((RESULTS / "digits_selection.json").read_text())
    folds: dict[str, dict[int, float]] = defaultdict(dict)
    for f in _fits():
        if f["split"] == 0:
            folds[f["candidate"]][f["fold"]] = f["accuracy"]
    assert set(folds) == set(rec["grid"]) and len(folds) >= 2
    assert all(sorted(v) == list(range(rec["folds"])) for v in folds.values())
    means = {n: float(np.mean(list(v.values()))) for n, v in folds.items()}
    split0 = rec["per_split"]["0"]
    for n, m in means.items():
        assert m == pytest.approx(split0["candidates"][n]["cv_mean"], abs=1e-12)
    assert means[split0["best"]] == max(means.values())
    assert rec["grid"][split0["best"]] == json.loads(json.dumps(dataclasses.asdict(DEFAULTS)))


def test_recorded_grid_is_the_benchmark_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorded candidates are the ones ``bench_digits.GRID`` defines today, each within
    the issue's 300-weight budget."""
    bench = _bench(monkeypatch)
    rec = json.loads((RESULTS / "digits_selection.json").read_text())
    assert rec["grid"] == {n: json.loads(json.dumps(dataclasses.asdict(d)))
                           for n, d in bench.GRID.items()}
    for d in bench.GRID.values():
        assert d.n_qubits * d.circuit_depth * len(d.rotations) <= bench.MAX_WEIGHTS


def _rows(ds) -> list[tuple[float, ...]]:
    return sorted(map(tuple, np.column_stack([ds.X.reshape(len(ds.y), -1), ds.y]).tolist()))


@pytest.mark.parametrize("split_seed", [0, 3])
def test_selection_folds_come_from_the_training_part_only(monkeypatch: pytest.MonkeyPatch,
                                                          split_seed: int) -> None:
    """Each CV fit trains and validates on the split's training part: the fit's two parts
    together are that part (as a multiset of labelled images), and the 5 validation folds
    partition it; the test part is never handed to a fit."""
    bench = _bench(monkeypatch)
    seen = []
    monkeypatch.setattr(bench, "fit_and_score", lambda d, tr, va: seen.append((tr, va)))
    for fold in range(bench.CV_FOLDS):
        bench._cv_task(DEFAULTS, split_seed, fold)
    train, test = bench.split(split_seed)
    assert len(train.y) + len(test.y) == 1797 and len(seen) == bench.CV_FOLDS
    whole = _rows(train)
    for tr, va in seen:
        assert sorted(_rows(tr) + _rows(va)) == whole
    assert sorted(r for _, va in seen for r in _rows(va)) == whole
