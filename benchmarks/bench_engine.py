"""Execution-engine benchmarks, one section per feature of issue 9.

Usage::

    python benchmarks/bench_engine.py --section optimization [--seeds N] [--repeats N] [--quick]

Each section is a function ``run(args) -> (markdown, data)`` registered in :data:`SECTIONS`;
its Markdown goes to ``benchmarks/results/engine_<section>.md`` and its numbers, with the
machine they were measured on, to ``engine_<section>.json``. Sections live in their own
modules (``engine_<section>.py``) so that they can be added independently.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import engine_optimization
from benchenv import environment

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("numpy", "numba", "qiskit", "qiskit-aer", "cirq-core", "q-store")

Section = Callable[[argparse.Namespace], tuple[str, dict[str, Any]]]
SECTIONS: dict[str, Section] = {
    "optimization": engine_optimization.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", required=True, choices=sorted(SECTIONS))
    parser.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats per configuration (default 3)")
    parser.add_argument("--quick", action="store_true",
                        help="a smaller run to check that the section works")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    env = environment(PACKAGES)
    markdown, data = SECTIONS[args.section](args)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"engine_{args.section}"
    header = (f"Measured {env['timestamp']} on {env['cpu_model']} ({env['cpu_count']} CPUs, "
              f"load {env['load_average_at_start']} at start), Python {env['python']}.\n\n")
    stem.with_suffix(".md").write_text(header + markdown + "\n", encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps({"environment": env, "args": {
        k: str(v) for k, v in vars(args).items()}, "results": data}, indent=2, default=str),
        encoding="utf-8")
    print(header + markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
