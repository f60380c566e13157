"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

__all__ = ["cpu_model", "environment", "load_average", "package_version", "text_table"]


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def load_average() -> float | None:
    """The 1-minute load average (another process competing for the 2 CPUs shows here)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def text_table(columns: tuple[str, ...], body: list[list[str]], left: int = 1) -> str:
    """A fixed-width text table; the first ``left`` columns are left-aligned."""
    widths = [max(len(h), *(len(c[i]) for c in body)) for i, h in enumerate(columns)]

    def line(vals: list[str] | tuple[str, ...]) -> str:
        return "  ".join(v.rjust(w) if i >= left else v.ljust(w)
                         for i, (v, w) in enumerate(zip(vals, widths, strict=True)))

    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(c) for c in body])


def environment(packages: tuple[str, ...]) -> dict[str, Any]:
    """The machine, time, load and package versions a result was measured with."""
    import numba

    return {
        "timestamp": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "load_average_at_start": load_average(),
        "versions": {d: package_version(d) for d in packages},
    }
