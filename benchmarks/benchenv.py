"""What every benchmark records about the machine it ran on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

__all__ = ["cpu_model", "load_average", "package_version"]


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
