"""Training progress on the terminal, fed by the trainer's telemetry stream.

``bar``: rich progress bars for the run and the current epoch with loss, accuracy, circuits
per second, cost so far and the time remaining; ``lines``: one line per step and per epoch;
``epochs``: one line per epoch (the default when stderr is not a terminal, e.g. in CI logs);
``none``. Everything is drawn from ``step``, ``epoch`` and ``circuits`` events.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["MODES", "TrainingProgress"]

MODES = ("auto", "bar", "lines", "epochs", "none")


class TrainingProgress:
    """Subscribe with ``tracker.subscribe(progress.on_event)``; ``start`` / ``stop`` around
    training."""

    def __init__(self, mode: str, console: Any, *, epochs: int, steps_per_epoch: int,
                 start_epoch: int = 0, start_batch: int = 0) -> None:
        if mode == "auto":
            mode = "bar" if console.is_terminal else "epochs"
        self.mode, self.console = mode, console
        self.epochs, self.per_epoch = epochs, max(1, steps_per_epoch)
        self.epoch, self.batch = start_epoch, start_batch
        self.usd = 0.0
        self.circuits = 0
        self._t0 = time.perf_counter()
        self.last: dict[str, Any] = {}
        self._bar: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        if self.mode != "bar":
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=30), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}  "
                       "{task.fields[cps]} circuits/s  ${task.fields[usd]}"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False)
        fields = {"loss": "-", "acc": "-", "cps": "-", "usd": "0.00"}
        done = self.epoch * self.per_epoch + self.batch
        self._run = self._bar.add_task("run", total=self.epochs * self.per_epoch,
                                       completed=done, **fields)
        self._ep = self._bar.add_task(self._epoch_label(), total=self.per_epoch,
                                      completed=self.batch, **fields)
        self._bar.start()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def note(self, text: str) -> None:
        """A message above the bars (or a plain line)."""
        if self.mode == "none":
            return
        self.console.print(text)

    def _epoch_label(self) -> str:
        return f"epoch {min(self.epoch + 1, self.epochs)}/{self.epochs}"

    # -- events ------------------------------------------------------------------------------------
    def on_event(self, e: dict[str, Any]) -> None:
        kind = e.get("event")
        if kind == "circuits":
            self.usd += float(e.get("usd") or 0.0)
            self.circuits += int(e.get("run") or 0)
        elif kind == "step":
            self._step(e)
        elif kind == "epoch":
            self._epoch(e)

    def _rate(self) -> float:
        return self.circuits / max(1e-9, time.perf_counter() - self._t0)

    def _step(self, e: dict[str, Any]) -> None:
        self.batch += 1
        self.last = e
        acc = e.get("accuracy")
        if self.mode == "bar" and self._bar is not None:
            fields = {"loss": f"{e['loss']:.4f}", "acc": "-" if acc is None else f"{acc:.3f}",
                      "cps": f"{self._rate():,.0f}", "usd": f"{self.usd:.2f}"}
            self._bar.update(self._run, advance=1, **fields)
            self._bar.update(self._ep, completed=self.batch, **fields)
        elif self.mode == "lines":
            self.console.print(
                f"step {e['step']} (epoch {e['epoch']}, batch {self.batch}/{self.per_epoch}): "
                f"loss {e['loss']:.4f}" + ("" if acc is None else f" acc {acc:.3f}")
                + f" circuits/s {self._rate():,.0f} cost ${self.usd:.4f}")

    def _epoch(self, e: dict[str, Any]) -> None:
        self.epoch, self.batch = int(e["epoch"]), 0
        parts = [f"epoch {e['epoch']}/{self.epochs}: loss {e['loss']:.4f}"]
        if e.get("accuracy") is not None:
            parts.append(f"accuracy {e['accuracy']:.3f}")
        if e.get("val_loss") is not None:
            parts.append(f"val_loss {e['val_loss']:.4f}")
        if e.get("val_accuracy") is not None:
            parts.append(f"val_accuracy {e['val_accuracy']:.3f}")
        parts.append(f"({e.get('seconds', 0.0):.1f} s)")
        if self.mode in ("lines", "epochs", "bar"):
            self.console.print(", ".join(parts[:-1]) + " " + parts[-1])
        if self._bar is not None and self.epoch < self.epochs:
            self._bar.reset(self._ep, total=self.per_epoch, description=self._epoch_label())
