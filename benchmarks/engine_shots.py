"""Adaptive shots: total shots to reach the loss that training with a fixed ``base_shots``
reaches, on the shot-sampling local simulator.

What is measured
----------------
The task: regression onto a hidden "teacher" circuit of the same shape (exactly learnable):
3 qubits, RX angle embedding, 2 layers of RX, RY, RZ on every qubit and a CNOT ring, readout
``<Z0>``, 16 samples uniform in [-1, 1]^3, full-batch steps, mean-squared error, parameter-shift
gradients, Adam (learning rate 0.1), every circuit sampled with shots.

* ``fixed 1000``: ``shots=1000`` for ``steps`` steps (two scenarios: 100 steps, where the loss
  is still falling and progress is limited by the number of steps, and 300 steps, where it
  has reached the level the shot noise allows). The target ``T`` is the median exact loss of
  its last 10 steps (its final loss).
* ``adaptive``: ``adaptive_shot_allocation=True`` with the spec's bounds ``min_shots=500``,
  ``base_shots=1000``, ``max_shots=2000`` (gCANS rule; constant from the learning rate).
* ``fixed 500``: ``shots=500`` throughout (a control: is the allocator better than simply
  using the minimum?).

Each run trains until its exact loss (the model's noise-free loss on the exact simulator,
not counted as shots) first reaches ``T`` (at most ``3 * steps`` steps); the shots counted are
those of every training circuit up to that step (the trainer's ``step`` events: circuits times
the shots they ran with). The ratio is ``shots(run) / shots(fixed 1000)`` to the same target,
per seed (data, teacher, initial weights and sampling all follow the seed); median and range
over the seeds.
"""

from __future__ import annotations

import logging
import statistics
import warnings
from typing import Any

import numpy as np

from benchenv import text_table
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

N_QUBITS, LAYERS, SAMPLES, LEARNING_RATE = 3, 2, 16, 0.1
SCENARIOS = {"100 steps": 100, "300 steps": 300}
BOUNDS = {"min_shots": 500, "base_shots": 1000, "max_shots": 2000}
RUNS = {"fixed 1000": {"shots": 1000},
        "adaptive": {"shots": 1000, "adaptive_shot_allocation": True, **BOUNDS},
        "fixed 500": {"shots": 500}}


def _problem(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = rng.uniform(-1, 1, size=(SAMPLES, N_QUBITS))
    teacher = QuantumModel(N_QUBITS, 1, LAYERS, seed=1000 + seed, init_scale=1.0)
    return xs, teacher.predict(xs)


def _train(seed: int, options: dict[str, Any], target: float | None, max_steps: int
           ) -> dict[str, Any]:
    """Train step by step; stop when the exact loss reaches ``target`` (None: never)."""
    xs, y = _problem(seed)
    model = QuantumModel(N_QUBITS, 1, LAYERS, seed=seed)
    cfg = TrainingConfig(gradient_method="parameter_shift", epochs=10**6, batch_size=SAMPLES,
                         learning_rate=LEARNING_RATE, optimizer="adam", seed=seed,
                         shuffle=False, **options)
    trainer = QuantumTrainer(cfg)
    losses, shots, total = [], [], 0
    for _ in range(max_steps):
        trainer.fit(model, (xs, y), epochs=1)
        total += trainer.performance_tracker.events("step")[-1]["shots"]
        shots.append(total)
        losses.append(float(np.mean((model.predict(xs) - y) ** 2)))
        if target is not None and losses[-1] <= target:
            break
    allocated = [e["shots"] for e in trainer.performance_tracker.events("shots")]
    return {"losses": losses, "shots": shots, "allocated": allocated}


def _scenario(seeds: int, steps: int) -> tuple[str, dict[str, Any]]:
    per_seed = []
    for seed in range(seeds):
        fixed = _train(seed, RUNS["fixed 1000"], None, steps)
        target = float(np.median(fixed["losses"][-10:]))
        reach = int(np.argmax(np.asarray(fixed["losses"]) <= target))
        row = {"seed": seed, "target": target,
               "fixed 1000": {"steps": reach + 1, "shots": fixed["shots"][reach]}}
        for name in ("adaptive", "fixed 500"):
            r = _train(seed, RUNS[name], target, 3 * steps)
            reached = r["losses"][-1] <= target
            row[name] = {"steps": len(r["losses"]) if reached else None,
                         "shots": r["shots"][-1] if reached else None,
                         "allocated": r["allocated"][:: steps // 10]}
        per_seed.append(row)
    body, summary = [], {}
    for name in RUNS:
        ratios = [r[name]["shots"] / r["fixed 1000"]["shots"] for r in per_seed
                  if r[name]["shots"] is not None]
        used = [r[name]["steps"] for r in per_seed if r[name]["steps"] is not None]
        missed = sum(r[name]["shots"] is None for r in per_seed)
        summary[name] = {"ratios": ratios, "missed": missed}
        med = statistics.median(ratios) if ratios else float("nan")
        body.append([name, f"{med:.2f}" if ratios else "-",
                     f"{min(ratios):.2f}-{max(ratios):.2f}" if ratios else "-",
                     f"{(1 - med) * 100:.0f} %" if ratios else "-",
                     str(int(statistics.median(used))) if used else "-",
                     f"{missed}/{seeds}"])
    table = text_table(("run", "shots vs fixed 1000 (median)", "range", "fewer shots",
                        "steps (median)", "missed target"), body)
    seeds_table = text_table(
        ("seed", "target loss", "fixed 1000 shots", "adaptive shots", "fixed 500 shots",
         "adaptive allocation (every tenth of the run)"),
        [[str(r["seed"]), f"{r['target']:.2e}", f"{r['fixed 1000']['shots']:.3g}",
          _fmt(r["adaptive"]["shots"]), _fmt(r["fixed 500"]["shots"]),
          str(r["adaptive"]["allocated"])] for r in per_seed])
    return (f"```\n{table}\n```\n\nPer seed:\n\n```\n{seeds_table}\n```\n",
            {"per_seed": per_seed, "summary": summary})


def run(seeds: int) -> tuple[str, dict[str, Any]]:
    logging.disable(logging.INFO)
    warnings.simplefilter("ignore")
    parts, data = [], {}
    for label, steps in SCENARIOS.items():
        text, data[label] = _scenario(seeds, steps)
        parts.append(f"### {label} of fixed 1000-shot training\n\n{text}")
    markdown = (__doc__.split("What is measured")[0].strip() + "\n\n"
                "Target: adaptive >= 40 % fewer shots than fixed 1000.\n\n"
                + "\n".join(parts))
    return markdown, {"scenarios": data,
                      "setup": {"n_qubits": N_QUBITS, "layers": LAYERS, "samples": SAMPLES,
                                "learning_rate": LEARNING_RATE, "bounds": BOUNDS,
                                "steps": SCENARIOS}}


def _fmt(v: float | None) -> str:
    return "not reached" if v is None else f"{v:.3g}"
