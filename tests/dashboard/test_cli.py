"""``q-store dashboard`` as a user runs it (a subprocess): it serves the run store on
127.0.0.1, stops on Ctrl-C, and refuses a missing store or a public address with one line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from q_store.store import RunStore

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
SRC = str(Path(__file__).resolve().parents[2] / "src")


def dashboard(*args: str) -> list[str]:
    return [sys.executable, "-m", "q_store.cli", "dashboard", *args]


def env() -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "QSTORE_DIR"}, "PYTHONPATH": SRC}


def test_serves_the_store_until_ctrl_c(tmp_path: Path) -> None:
    with RunStore(tmp_path / "store") as store:
        run = store.create_run("digits", {"training": {"epochs": 1}})
        store.write_events(run.id, [{"t": 1.0, "event": "step", "step": 1, "loss": 0.5}])
        store.finish(run.id, "completed")
    proc = subprocess.Popen(dashboard("--store", str(tmp_path / "store"), "--port", "0"),
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        url = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
        assert url, line + proc.stderr.read()
        runs = httpx.get(url[1] + "api/runs", timeout=30).json()["runs"]
        assert [(r["name"], r["status"]) for r in runs] == [("digits", "completed")]
        events = httpx.get(url[1] + f"api/runs/{run.id}/events", timeout=30).json()["events"]
        assert [e["loss"] for e in events] == [0.5]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


@pytest.mark.parametrize("args,message", [
    (("--store", "{tmp}/none"), "no run store at"),
    (("--store", "{tmp}", "--host", "0.0.0.0"),
     "not a loopback address.*every run in the store.*--allow-remote"),
    (("--store", "{tmp}", "--port", "-5"), "from 0 to 65535"),
])
def test_refusals_are_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    RunStore(tmp_path).close()
    proc = subprocess.run(dashboard(*(a.format(tmp=tmp_path) for a in args)), env=env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert re.search(message, proc.stderr), proc.stderr
    assert proc.stderr.startswith("q-store dashboard: error:")
