"""This tree's simulator against an earlier revision of it, side by side: batched kernels at 8
qubits and digits training epochs.

What is measured
----------------
* ``spec8``: the spec workload (RX embedding, 2 layers of RY/RZ + CNOT ring, ``<Z0>``) at 8
  qubits, batch 1000: forward (``expectation``) and gradient (``AdjointGradient.vjp`` with a
  cotangent of ones, summed over the batch), microseconds per sample;
* ``digits``: one training epoch of the digits models benchmarked before the 5-split protocol
  of ``bench_digits.py`` (built here, so any revision can be the baseline: 6 qubits, amplitude
  encoding, batch 16, Adam, adjoint gradients; ``real``: RY + full CNOTs, depth 50; ``hea``:
  RY/RZ + CNOT ring, depth 25) on the 1257-sample training split, seconds per epoch.

How
---
The baseline revision is checked out into a temporary git worktree (detached; removed at the
end). Every measurement runs in a fresh worker process (``--worker``) that imports either tree
(``PYTHONPATH``), warms up (numba compiles or loads its cache) and times ``--repeats`` calls;
workers of the two trees alternate, ``--rounds`` times, so that both see the same load. Reported:
median and range of the per-round medians, wall time and process CPU time (CPU time is less
sensitive to other processes on a shared machine), and the ratio baseline / this tree. Values
are checked against each other first (1e-10). The load average is recorded.

Usage::

    python benchmarks/bench_speedup.py [--baseline REV] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = "c9e26de"  # main before the batch-inner kernels
OUT = ROOT / "benchmarks" / "results" / "speedup.json"


# -- worker -----------------------------------------------------------------------------------
def _timed(fn: Any, repeats: int) -> tuple[float, float, Any]:
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def worker(workload: str, repeats: int, threads: int | None) -> dict[str, Any]:
    import numpy as np

    from q_store.sim import StatevectorSimulator

    sim = StatevectorSimulator(threads=threads)
    if workload == "spec8":
        from q_store.circuit import Z
        from q_store.demo import hardware_efficient_circuit
        from q_store.gradients import AdjointGradient

        n, batch = 8, 1000
        c = hardware_efficient_circuit(n, 2)
        rng = np.random.default_rng(1234)
        x = rng.uniform(0, np.pi, (batch, n))
        w = rng.uniform(0, 2 * np.pi, c.n_weights)
        grad = AdjointGradient(sim)
        cot = np.ones((batch, 1))
        fw, fc, vals = _timed(lambda: sim.expectation(c, Z(0), w, x), repeats)
        gw, gc, g = _timed(lambda: grad.vjp(c, Z(0), w, x, cot).weights.sum(0), repeats)
        return {"forward_us": [1e6 * fw / batch, 1e6 * fc / batch],
                "gradient_us": [1e6 * gw / batch, 1e6 * gc / batch],
                "check": [float(np.sum(vals)), *map(float, g)]}
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from q_store.data.loaders import DataLoader
    from q_store.ml.config import TrainingConfig
    from q_store.ml.layers import HardwareEfficientQuantumLayer, QuantumLayer
    from q_store.ml.models import QuantumModel
    from q_store.ml.trainer import QuantumTrainer

    # the digits models as they were benchmarked when this comparison was written; built here
    # with the API both trees have, so that any revision can be the baseline
    if workload == "digits-real":
        layer = QuantumLayer(6, depth=50, entanglement="full", rotations=("RY",))
    else:
        layer = HardwareEfficientQuantumLayer(6, depth=25, entanglement="circular")
    x, y = load_digits(return_X_y=True)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    model = QuantumModel(64, 10, encoding="amplitude", task="classification", n_qubits=6,
                         layers=[layer], seed=0, init_scale=1.0)
    loader = DataLoader(x_train, y_train, batch_size=16, shuffle=True, seed=0)
    config = TrainingConfig(learning_rate=0.05, epochs=1000, batch_size=16, optimizer="adam",
                            gradient_method="adjoint", seed=0, n_qubits=6)
    trainer = QuantumTrainer(config)

    def epoch() -> float:  # the next epoch of the same training run
        trainer.fit(model, loader, epochs=1)
        return float(trainer.history["losses"][-1])

    ew, ec, loss = _timed(epoch, repeats)
    return {"epoch_s": [ew, ec], "check": [loss]}  # the first epoch's loss


# -- driver -----------------------------------------------------------------------------------
def run_worker(tree: Path, workload: str, repeats: int, threads: int | None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", workload,
           "--repeats", str(repeats)]
    if threads:
        cmd += ["--threads", str(threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {workload} in {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", default=DEFAULT_BASELINE)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workloads", default="spec8,digits-real,digits-hea")
    p.add_argument("--worker", default=None)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.threads)))
        return 0
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base),
                        args.baseline], check=True, capture_output=True)
        try:
            rows = measure(base, args)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(base)], check=False, capture_output=True)
    env = {"baseline": f"{args.baseline} ({_short(args.baseline)})",
           "this_tree": f"HEAD ({_short('HEAD')})", "threads": args.threads or "default",
           "rounds": args.rounds, "repeats": args.repeats,
           "load_average_start": [round(v, 2) for v in load0],
           "load_average_end": [round(v, 2) for v in os.getloadavg()],
           "cpus": os.cpu_count()}
    text = table(rows, env)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"environment": env, "rows": rows}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(text + "\n")
    return 0


def _short(rev: str) -> str:
    """The commit a revision name stands for, so that results name what they measured."""
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def measure(base: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for workload in args.workloads.split(","):
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "this tree": []}
        for _ in range(args.rounds):
            for name, tree in (("baseline", base), ("this tree", ROOT)):
                print(f"[bench] {workload} {name}", file=sys.stderr, flush=True)
                runs[name].append(run_worker(tree, workload, args.repeats, args.threads))
        a, b = runs["baseline"][0]["check"], runs["this tree"][0]["check"]
        err = max(abs(x - y) for x, y in zip(a, b, strict=True))
        if workload == "spec8" and err > 1e-10:
            raise RuntimeError(f"{workload}: results differ by {err:.3g}")
        keys = [k for k in runs["baseline"][0] if k != "check"]
        for key in keys:
            for i, clock in enumerate(("wall", "cpu")):
                old = summary([r[key][i] for r in runs["baseline"]])
                new = summary([r[key][i] for r in runs["this tree"]])
                rows.append({"workload": workload, "quantity": key, "clock": clock,
                             "baseline": old, "this_tree": new,
                             "ratio": old["median"] / new["median"], "check_diff": err})
    return rows


def table(rows: list[dict[str, Any]], env: dict[str, Any]) -> str:
    def cell(s: dict[str, float]) -> str:
        return f"{s['median']:.4g} ({s['min']:.4g}-{s['max']:.4g})"

    out = ["| workload | quantity | clock | baseline | this tree | speed-up |",
           "| --- | --- | --- | ---: | ---: | ---: |"]
    for r in rows:
        out.append(f"| {r['workload']} | {r['quantity']} | {r['clock']} | {cell(r['baseline'])}"
                   f" | {cell(r['this_tree'])} | {r['ratio']:.2f}x |")
    out.append("")
    out.append(f"Median (min-max) of {env['rounds']} rounds of alternating worker processes, "
               f"each the median of {env['repeats']} calls; baseline = {env['baseline']}; "
               f"this tree = {env['this_tree']}; "
               f"threads {env['threads']}; {env['cpus']} CPUs; load average "
               f"{env['load_average_start'][0]} at start, {env['load_average_end'][0]} at end. "
               "spec8: microseconds per sample; digits: seconds per epoch (79 steps).")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
