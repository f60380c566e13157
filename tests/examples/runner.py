"""Run an example script as a user runs it (a subprocess with this checkout's ``src`` on the
path) and return what it printed, with its ``--json`` summary parsed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import q_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(script: str, *args: str) -> tuple[str, Any]:
    """``(stdout, summary)``: the script's output and its last line parsed as JSON (the
    ``--json`` summary; None without ``--json``). Fails on a non-zero exit or a traceback."""
    env = dict(os.environ)
    src = str(Path(q_store.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env.pop("IONQ_API_KEY", None)  # examples reach only the local servers they start
    env.pop("IONQ_BASE_URL", None)
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stdout.rstrip().splitlines()
    summary = json.loads(lines[-1]) if "--json" in args else None
    return done.stdout, summary


def floats(pattern: str, text: str) -> list[float]:
    """Every match of ``pattern``'s first group in ``text``, as floats."""
    return [float(m) for m in re.findall(pattern, text, re.M)]


def section(text: str, title: str) -> str:
    """The printed lines of one section (from its ``== ... title`` heading to the next)."""
    start = text.index(title)
    end = text.find("\n== ", start)
    return text[start:] if end < 0 else text[start:end]
