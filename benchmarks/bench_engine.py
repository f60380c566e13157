"""Execution-engine benchmarks (issue 9), one section per feature, each measured side by side in
one run and written to ``benchmarks/results/engine_<section>.md`` (and ``.json``).

Usage::

    python benchmarks/bench_engine.py --section adaptive_shots [--seeds N]
    python benchmarks/bench_engine.py --section natural_gradient [--seeds N]
    python benchmarks/bench_engine.py --section all

Each section lives in its own module (``engine_<name>.py`` next to this file) with a
``run(seeds: int) -> (markdown, data)`` function; ``SECTIONS`` maps section names to them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchenv import environment

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS: dict[str, str] = {
    "adaptive_shots": "engine_shots",
    "natural_gradient": "engine_natural",
}


def section(name: str) -> Callable[[int], tuple[str, dict[str, Any]]]:
    return importlib.import_module(SECTIONS[name]).run  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--section", required=True, choices=[*SECTIONS, "all"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    names = list(SECTIONS) if args.section == "all" else [args.section]
    args.out.mkdir(parents=True, exist_ok=True)
    for name in names:
        env = environment(("numpy", "numba", "scipy"))
        t0 = time.perf_counter()
        markdown, data = section(name)(args.seeds)
        seconds = time.perf_counter() - t0
        header = (f"# Engine benchmark: {name}\n\n"
                  f"Measured {env['timestamp']} on {env['cpu_model']} ({env['cpu_count']} "
                  f"CPUs, load {env['load_average_at_start']}), Python {env['python']}; "
                  f"{args.seeds} seeds, {seconds:.0f} s.\n\n")
        (args.out / f"engine_{name}.md").write_text(header + markdown + "\n", encoding="utf-8")
        (args.out / f"engine_{name}.json").write_text(
            json.dumps({"environment": env, "seconds": seconds, **data}, indent=2,
                       default=float) + "\n", encoding="utf-8")
        print(header + markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
