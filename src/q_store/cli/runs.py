"""``q-store runs``: list, show, compare, delete and plot stored runs (``--json`` for
scripts). Reading never blocks a run that is training (the store is in WAL mode)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from q_store.cli.common import console, emit_json, fmt, store_root, when
from q_store.errors import StoreError
from q_store.store import RunInfo, RunStore, file_sha256

__all__ = ["add_arguments", "run_runs"]

_SUMMARY_KEYS = ("epochs", "steps", "loss", "accuracy", "val_loss", "val_accuracy",
                 "test_loss", "test_accuracy", "circuits", "shots", "usd", "seconds",
                 "n_qubits", "n_parameters")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="run store directory (default: $QSTORE_DIR or "
                   "./qstore-runs)")
    p.add_argument("--json", action="store_true", help="JSON output")
    sub = p.add_subparsers(dest="runs_command")
    listing = sub.add_parser("list", help="every run, newest first")
    show = sub.add_parser("show", help="one run: status, summary, config, checkpoints")
    show.add_argument("run")
    compare = sub.add_parser("compare", help="runs side by side: results and differing "
                             "options")
    compare.add_argument("run", nargs="+")
    delete = sub.add_parser("delete", help="remove runs and their files")
    delete.add_argument("run", nargs="+")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    plot = sub.add_parser("plot", help="PNG of loss, accuracy, shots and depth curves")
    plot.add_argument("run")
    plot.add_argument("-o", "--output", help="PNG path (default: <run dir>/curves.png)")
    plot.add_argument("--width", type=int, default=1200, help="pixels (default 1200)")
    plot.add_argument("--height", type=int, default=900, help="pixels (default 900)")
    for sp in (listing, show, compare, delete, plot):  # also accepted after the subcommand
        sp.add_argument("--store", dest="store_sub", help=argparse.SUPPRESS)
        sp.add_argument("--json", dest="json_sub", action="store_true", help=argparse.SUPPRESS)


def run_runs(args: argparse.Namespace) -> int:
    root = store_root(getattr(args, "store_sub", None) or args.store)
    as_json = args.json or getattr(args, "json_sub", False)
    with RunStore(root, create=False) as store:
        command = args.runs_command or "list"
        if command == "list":
            return _list(store, as_json)
        if command == "show":
            return _show(store, store.get(args.run), as_json)
        if command == "compare":
            return _compare(store, [store.get(r) for r in args.run], as_json)
        if command == "delete":
            return _delete(store, [store.get(r) for r in args.run], args.yes, as_json)
        from q_store.cli.plot import plot_run

        info = store.get(args.run)
        out = Path(args.output) if args.output else store.run_dir(info.id) / "curves.png"
        path = plot_run(store, info, out, width=args.width, height=args.height)
        if as_json:
            emit_json({"run_id": info.id, "png": str(path), "width": args.width,
                       "height": args.height})
        else:
            print(path)
        return 0


def _writer_gone(info: RunInfo) -> bool:
    """A run still marked running whose process is gone (killed): resumable."""
    from q_store.store.db import _alive

    return info.status == "running" and (info.writer_pid is None or not _alive(info.writer_pid))


def _row(info: RunInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "status": info.status,
            "writer_gone": _writer_gone(info),
            "created": when(info.created_at), "updated": when(info.updated_at),
            "stop_reason": info.stop_reason,
            **{k: info.summary.get(k) for k in _SUMMARY_KEYS}}


def _list(store: RunStore, as_json: bool) -> int:
    runs = store.runs()
    if as_json:
        emit_json([_row(r) for r in runs])
        return 0
    if not runs:
        print(f"no runs in {store.root}")
        return 0
    from rich.table import Table

    table = Table(title=f"runs in {store.root}", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=22)
    for col in ("name", "status", "created", "epochs", "loss", "accuracy", "test acc.",
                "circuits"):
        table.add_column(col, justify="left" if col in ("name", "status", "created")
                         else "right")
    for r in runs:
        s = r.summary
        table.add_row(r.id, r.name, _status(r.status) + (" (process gone)" if _writer_gone(r)
                                                         else ""),
                      when(r.created_at), fmt(s.get("epochs")),
                      fmt(s.get("loss")), fmt(s.get("accuracy")), fmt(s.get("test_accuracy")),
                      fmt(s.get("circuits")))
    console().print(table)
    return 0


def _status(status: str) -> str:
    color = {"completed": "green", "failed": "red", "interrupted": "yellow",
             "running": "cyan"}[status]
    return f"[{color}]{status}[/]"


def _checkpoint_rows(store: RunStore, info: RunInfo) -> list[dict[str, Any]]:
    """Recorded checkpoints; ``state``: ok, missing (pruned or deleted) or modified."""
    rows = []
    for c in store.checkpoints(info.id):
        p = Path(c.path)
        state = "missing"
        if p.exists():
            state = "ok" if file_sha256(p) == c.sha256 else "modified"
        rows.append({"path": c.path, "sha256": c.sha256, "epoch": c.epoch, "step": c.step,
                     "size_bytes": c.size_bytes, "state": state})
    return rows


def _show(store: RunStore, info: RunInfo, as_json: bool) -> int:
    checkpoints = _checkpoint_rows(store, info)
    epochs = store.metrics(info.id, "epoch")
    if as_json:
        emit_json({**_row(info), "source": info.source, "config": info.config,
                   "summary": info.summary, "checkpoints": checkpoints,
                   "epoch_metrics": epochs, "run_dir": str(store.run_dir(info.id))})
        return 0
    from rich.table import Table

    con = console()
    con.print(f"[bold]run {info.id}[/] ({info.name}): {_status(info.status)}"
              + (f", {info.stop_reason}" if info.stop_reason else "")
              + (" (its process is gone: q-store train --resume continues it)"
                 if _writer_gone(info) else ""))
    con.print(f"created {when(info.created_at)}, updated {when(info.updated_at)}; "
              f"config {info.source}; files {store.run_dir(info.id)}")
    summary = Table(title="summary", title_justify="left")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key in _SUMMARY_KEYS:
        if info.summary.get(key) is not None:
            summary.add_row(key, fmt(info.summary[key]))
    con.print(summary)
    if epochs:
        table = Table(title="epochs", title_justify="left")
        names = sorted(epochs)
        table.add_column("epoch", justify="right")
        for n in names:
            table.add_column(n, justify="right")
        by_epoch: dict[int, dict[str, float]] = {}
        for n, points in epochs.items():
            for e, v in points:
                by_epoch.setdefault(e, {})[n] = v
        for e in sorted(by_epoch):
            table.add_row(str(e), *(fmt(by_epoch[e].get(n)) for n in names))
        con.print(table)
    if checkpoints:
        table = Table(title="checkpoints", title_justify="left")
        for col in ("epoch", "step", "file", "sha256", "state"):
            table.add_column(col)
        for c in checkpoints:
            table.add_row(str(c["epoch"]), str(c["step"]), os.path.basename(c["path"]),
                          c["sha256"][:16], c["state"])
        con.print(table)
    return 0


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _compare(store: RunStore, runs: list[RunInfo], as_json: bool) -> int:
    configs = [_flat(r.config.get("file", {})) for r in runs]
    keys = sorted(set().union(*configs))
    differing = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
    results = {k: [r.summary.get(k) for r in runs] for k in _SUMMARY_KEYS
               if any(r.summary.get(k) is not None for r in runs)}
    if as_json:
        emit_json({"runs": [r.id for r in runs], "results": results,
                   "config_differences": {k: [c.get(k) for c in configs] for k in differing}})
        return 0
    from rich.table import Table

    table = Table(title="comparison", title_justify="left")
    table.add_column("")
    for r in runs:
        table.add_column(f"{r.id}\n{r.name}", justify="right")
    table.add_row("status", *(_status(r.status) for r in runs))
    for k, values in results.items():
        table.add_row(k, *(fmt(v) for v in values))
    if differing:
        table.add_section()
        for k in differing:
            table.add_row(k, *(fmt(c.get(k)) for c in configs))
    console().print(table)
    return 0


def _delete(store: RunStore, runs: list[RunInfo], yes: bool, as_json: bool) -> int:
    if not yes:
        if not sys.stdin.isatty():
            raise StoreError("deleting runs needs confirmation: pass --yes")
        names = ", ".join(r.id for r in runs)
        answer = input(f"delete {names} and their checkpoints? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    for r in runs:
        store.delete(r.id)
    if as_json:
        emit_json({"deleted": [r.id for r in runs]})
    else:
        for r in runs:
            print(f"deleted {r.id}")
    return 0
