"""The execution engine's benchmarks, one section per feature (issue 9).

Each section is a module next to this file with ``run(argv) -> (markdown, data)``; its
Markdown goes to ``benchmarks/results/engine_<section>.md`` and its data (with the machine's
environment) to ``engine_<section>.json``. A section adds one line to :data:`SECTIONS`.

Usage::

    python benchmarks/bench_engine.py --section multi_backend [section options]
    python benchmarks/bench_engine.py --section multi_backend --help
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# section name -> module (in benchmarks/) with run(argv: list[str]) -> (markdown, data)
SECTIONS: dict[str, str] = {
    "multi_backend": "engine_multi_backend",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--section", choices=sorted(SECTIONS), required=True)
    parser.add_argument("--out-dir", type=Path, default=RESULTS,
                        help=f"where engine_<section>.md/.json go (default {RESULTS})")
    args, rest = parser.parse_known_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    module = importlib.import_module(SECTIONS[args.section])
    markdown, data = module.run(rest)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    stem = args.out_dir / f"engine_{args.section}"
    stem.with_suffix(".md").write_text(markdown)
    stem.with_suffix(".json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(markdown)
    print(f"wrote {stem}.md and {stem}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
