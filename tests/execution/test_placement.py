"""``print_backend_table`` (``print_backend_stats()``): every backend, its share of the
circuits and its numbers, as a rich table; plain text where rich is missing."""

from __future__ import annotations

import builtins
import io

import pytest

from q_store.execution.placement import print_backend_table

STATS = {
    "ionq.simulator#1": {"backend": "ionq.simulator", "circuits": 300, "jobs": 3,
                         "failures": 1, "throughput": 12.5, "usd": 0.0, "suspended": True},
    "mock_ideal": {"backend": "mock_ideal", "circuits": 100, "jobs": 2, "failures": 0,
                   "throughput": None, "usd": 1.25, "suspended": False},
}


def rows(text: str) -> dict[str, list[str]]:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.replace("│", "|").split("|")]
        cells = [c for c in cells if c] if "|" in line.replace("│", "|") else line.split()
        if cells and cells[0] in STATS:
            out[cells[0]] = cells
    return out


def test_rich_table_shows_every_backend_and_its_share() -> None:
    buf = io.StringIO()
    print_backend_table(STATS, buf)
    text = buf.getvalue()
    assert "Q-Store backend statistics" in text and "circuits/s" in text
    table = rows(text)
    assert table["ionq.simulator#1"][1:] == ["300", "75.0 %", "3", "1", "12.5", "$0.0000",
                                             "suspended"]
    assert table["mock_ideal"][1:] == ["100", "25.0 %", "2", "0", "n/a", "$1.2500", "ok"]


def test_plain_text_without_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_rich(name, *args, **kw):  # type: ignore[no-untyped-def]
        if name.startswith("rich"):
            raise ImportError(name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_rich)
    buf = io.StringIO()
    print_backend_table(STATS, buf)
    table = rows(buf.getvalue())
    assert table["mock_ideal"] == ["mock_ideal", "100", "25.0", "%", "2", "0", "n/a",
                                   "$1.2500", "ok"]
    assert buf.getvalue().splitlines()[0].split()[:3] == ["backend", "circuits", "share"]


def test_no_circuits_yet() -> None:
    buf = io.StringIO()
    print_backend_table({"local_simulator": {**STATS["mock_ideal"], "circuits": 0}}, buf)
    assert "n/a" in buf.getvalue() and "local_simulator" in buf.getvalue()
