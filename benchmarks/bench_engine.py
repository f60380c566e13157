"""Execution-engine benchmarks: what each feature of the engine buys, measured side by side.

Each section lives in its own module next to this file (``engine_<section>.py``) with a
``run(args)`` function returning ``{"title": str, "markdown": str, "data": dict}`` and an
``add_arguments(parser)`` hook, or a plain ``run(seeds) -> (markdown, data)``; register it in
:data:`SECTIONS`. A section prints its
Markdown and writes ``benchmarks/results/engine_<section>.md`` (and ``.json``) with the
environment it ran in.

Usage::

    python benchmarks/bench_engine.py --section caching [--repeats 5] [--out-dir DIR]
    python benchmarks/bench_engine.py --section multi_backend [--mb-sizes 60,180,60@1]
    python benchmarks/bench_engine.py --section all
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchenv import environment, load_average

# section name -> module (benchmarks/<module>.py) with run(args) and add_arguments(parser)
SECTIONS = {"caching": "engine_caching", "adaptive_shots": "engine_shots",
            "natural_gradient": "engine_natural", "optimization": "engine_optimization",
            "multi_backend": "engine_multi_backend", "cost_to_target": "engine_cost"}
PACKAGES = ("q-store", "numpy", "numba", "httpx")
RESULTS = Path(__file__).resolve().parent / "results"


def write(name: str, section: dict[str, Any], env: dict[str, Any], out_dir: Path) -> Path:
    env = {**env, "load_average_at_end": load_average()}
    out_dir.mkdir(parents=True, exist_ok=True)
    v = env["versions"]
    footer = (f"{env['cpu_count']} CPUs ({env['cpu_model']}); q-store {v['q-store']}, numpy "
              f"{v['numpy']}, numba {v['numba']}, Python {env['python']}, {env['timestamp']}; "
              f"1-min load average {env['load_average_at_start']} at start, "
              f"{env['load_average_at_end']} at end.")
    md = f"## {section['title']}\n\n{section['markdown'].rstrip()}\n\n{footer}\n"
    path = out_dir / f"engine_{name}.md"
    path.write_text(md)
    (out_dir / f"engine_{name}.json").write_text(json.dumps(
        {"section": name, "title": section["title"], "environment": env,
         **section.get("data", {})},
        indent=2, default=str) + "\n")
    print(md)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--section", required=True, choices=[*SECTIONS, "all"])
    p.add_argument("--repeats", type=int, default=5, help="runs of each measurement")
    p.add_argument("--out-dir", type=Path, default=RESULTS)
    p.add_argument("--seeds", type=int, default=5, help="seeds of the training comparisons")
    for module in SECTIONS.values():
        hook = getattr(importlib.import_module(module), "add_arguments", None)
        if hook is not None:
            hook(p)
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = list(SECTIONS) if args.section == "all" else [args.section]
    for name in names:
        env = environment(PACKAGES)
        module = importlib.import_module(SECTIONS[name])
        section = module.run(args) if hasattr(module, "add_arguments") else module.run(
            args.seeds)
        if isinstance(section, tuple):  # (markdown, data)
            section = {"title": f"Engine benchmark: {name}", "markdown": section[0],
                       "data": section[1]}
        print(f"wrote {write(name, section, env, args.out_dir)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
