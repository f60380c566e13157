"""What the ``q-store`` subcommands share: where the run store is, consoles, JSON output."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from q_store.store import DEFAULT_ROOT

__all__ = ["STORE_ENV", "console", "emit_json", "fmt", "store_root", "when"]

STORE_ENV = "QSTORE_DIR"


def store_root(flag: str | None, from_config: str | None = None) -> Path:
    """The run store directory: ``--store``, else ``$QSTORE_DIR``, else the config file's
    ``run.store``, else ``./qstore-runs``."""
    for value in (flag, os.environ.get(STORE_ENV), from_config):
        if value:
            return Path(value)
    return Path(DEFAULT_ROOT)


def console(stderr: bool = False) -> Any:
    """A rich console; 120 columns when not a terminal (logs, pipes) unless COLUMNS says."""
    from rich.console import Console

    con = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con = Console(stderr=stderr, highlight=False, soft_wrap=False, width=120)
    return con


def emit_json(value: Any) -> None:
    """``value`` as JSON on stdout (NaN and infinity as null), for scripts."""
    json.dump(_finite(value), sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table cell ("-" for missing)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.{digits}g}"
    return str(value)


def when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
