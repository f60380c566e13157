"""Performance reports as tables: rich tables on a terminal (or any file) where ``rich`` is
installed, aligned plain text otherwise. The numbers come from the telemetry stream
(:meth:`PerformanceTracker.get_statistics`) and the trainer's own counters; a metric that no
component reported is shown as "n/a", never as a made-up number."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, TextIO

__all__ = ["format_value", "print_table", "print_tracker_report", "print_trainer_report"]

# units of the statistics (the spec's metric names are shown as they are, so they can be
# looked up in get_statistics() and the spec)
_UNITS = {
    "batch_submission_time_ms": "ms", "batch_execution_time_ms": "ms",
    "circuit_build_time_ms": "ms", "parameter_bind_time_ms": "ms",
    "circuits_per_second": "/s", "effective_parallelization": "x", "cache_hit_rate": "%",
    "template_hit_rate": "%", "cache_memory_mb": "MB", "connection_reuse_rate": "%",
    "usd": "USD", "cost_usd": "USD", "total_time": "s", "avg_batch_time": "s",
}


def format_value(value: Any, unit: str = "") -> str:
    """A metric for people: ``n/a`` for None, percentages for rates, 4 significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if unit == "%":
        return f"{100 * value:.1f} %"
    if unit == "USD":
        return f"${value:,.4f}"
    if float(value).is_integer() and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        text = f"{value:.4g}"
    return f"{text} {unit}".rstrip()


def _rows(stats: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(key, format_value(value, _UNITS.get(key, ""))) for key, value in stats.items()]


def print_table(title: str, rows: list[tuple[str, str]], file: TextIO | None = None,
                headers: tuple[str, str] = ("metric", "value")) -> None:
    """Two-column table: rich where available, aligned text otherwise."""
    out = file if file is not None else sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title, file=out)
        width = max((len(k) for k, _ in rows), default=0)
        for key, value in rows:
            print(f"  {key:<{width}}  {value}", file=out)
        return
    table = Table(title=title, title_justify="left")
    table.add_column(headers[0])
    table.add_column(headers[1], justify="right")
    for key, value in rows:
        table.add_row(key, value)
    Console(file=out, highlight=False, width=None if out.isatty() else 100).print(table)


def print_tracker_report(stats: Mapping[str, Any], file: TextIO | None = None) -> None:
    print_table("Q-Store performance report", _rows(stats), file)


def print_trainer_report(trainer: Any, file: TextIO | None = None) -> None:
    """The trainer's statistics and, with tracking on, the telemetry stream's."""
    from q_store.errors import ConfigError

    try:
        own = trainer.get_performance_stats()
    except ConfigError:
        own = None
    if own is None:
        print_table("Q-Store training report", [("performance tracking", "off")], file)
        return
    rows = [("epochs", str(trainer.epoch)), ("optimizer_steps", str(trainer.step))]
    print_table("Q-Store training report", rows + _rows(own), file)
    if trainer.performance_tracker is not None:
        print_tracker_report(trainer.performance_tracker.get_statistics(), file)
