"""``q-store runs plot RUN``: a PNG of a run's curves, from the run store.

Four panels: loss (per step, per epoch, validation), accuracy (per step, per epoch,
validation), circuits and shots (cumulative; an exact run has no shots and says so), and
circuit depth (``depth`` events where a component reports it, else the model's circuit depth
from the ``run`` event). Drawn with matplotlib's Agg canvas (no display needed, no global
pyplot state) at exactly ``width`` x ``height`` pixels; written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import NotSupportedError
from q_store.store import RunInfo, RunStore

__all__ = ["plot_run"]

_DPI = 100


def _matplotlib() -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NotSupportedError("q-store runs plot needs matplotlib: pip install "
                                "'q-store[plot]'") from None
    return Figure, FigureCanvasAgg


def _xy(points: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
    if not points:
        return np.zeros(0), np.zeros(0)
    a = np.asarray(points, dtype=float)
    return a[:, 0], a[:, 1]


def _steps_at_epoch_ends(store: RunStore, run_id: str) -> dict[int, int]:
    """Epoch number -> last step of that epoch (to draw epoch values on the step axis)."""
    ends: dict[int, int] = {}
    for e in store.events(run_id, "step"):
        if isinstance(e.get("epoch"), int) and isinstance(e.get("step"), int):
            ends[e["epoch"]] = max(ends.get(e["epoch"], 0), e["step"])
    return ends


def plot_run(store: RunStore, info: RunInfo, path: str | os.PathLike[str], *,
             width: int = 1200, height: int = 900) -> Path:
    """Draw ``info``'s curves into the PNG ``path``; returns the path."""
    if not (200 <= width <= 8000 and 200 <= height <= 8000):
        raise NotSupportedError(f"plot size {width}x{height} pixels: each side must be from "
                                "200 to 8000")
    figure_cls, canvas_cls = _matplotlib()
    steps = store.metrics(info.id, "step")
    epochs = store.metrics(info.id, "epoch")
    ends = _steps_at_epoch_ends(store, info.id)

    def at_ends(points: list[tuple[int, float]]) -> tuple[np.ndarray, np.ndarray]:
        pts = [(ends[e], v) for e, v in points if e in ends]
        return _xy(pts)

    fig = figure_cls(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    canvas_cls(fig)
    axes = fig.subplots(2, 2)
    fig.suptitle(f"run {info.id} ({info.name}): {info.status}")

    ax = axes[0][0]
    x, y = _xy(steps.get("loss", []))
    ax.plot(x, y, lw=0.8, alpha=0.6, label="step")
    for name, style in (("loss", "o-"), ("val_loss", "s--")):
        ex, ey = at_ends(epochs.get(name, []))
        if len(ex):
            ax.plot(ex, ey, style, label=f"epoch {name}")
    ax.set(title="loss", xlabel="step")
    ax.legend(loc="best", fontsize="small")

    ax = axes[0][1]
    x, y = _xy(steps.get("accuracy", []))
    if len(x):
        ax.plot(x, y, lw=0.8, alpha=0.6, label="step (batch)")
    for name, style in (("accuracy", "o-"), ("val_accuracy", "s--")):
        ex, ey = at_ends(epochs.get(name, []))
        if len(ex):
            ax.plot(ex, ey, style, label=f"epoch {name}")
    test = info.summary.get("test_accuracy")
    if isinstance(test, int | float) and ends:
        ax.axhline(test, color="k", lw=0.8, ls=":", label=f"test {test:.3f}")
    ax.set(title="accuracy", xlabel="step", ylim=(-0.02, 1.02))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    else:
        ax.text(0.5, 0.5, "regression run: no accuracy", ha="center", transform=ax.transAxes)

    ax = axes[1][0]
    x, c = _xy(steps.get("circuits", []))
    _, s = _xy(steps.get("shots", []))
    if len(x):
        ax.plot(x, np.cumsum(c), label="circuits (cumulative)")
        if len(s) and np.any(s > 0):
            ax.plot(x, np.cumsum(s), label="shots (cumulative)")
        else:
            ax.text(0.03, 0.9, "exact expectation values: no shots", transform=ax.transAxes)
        ax.legend(loc="lower right", fontsize="small")
    ax.set(title="circuits and shots", xlabel="step")

    ax = axes[1][1]
    depth = [(e.get("step", 0), e["depth"]) for e in store.events(info.id, "depth")
             if isinstance(e.get("depth"), int | float)]
    if not depth:
        run = store.events(info.id, "run", limit=1)
        if run and isinstance(run[0].get("depth"), int) and len(x):
            depth = [(int(x[0]), run[0]["depth"]), (int(x[-1]), run[0]["depth"])]
    dx, dy = _xy(depth)
    if len(dx):
        ax.step(dx, dy, where="post")
        ax.set_ylim(0, 1.15 * float(dy.max()) + 1)
    ax.set(title="circuit depth", xlabel="step")
    fig.tight_layout()

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, dpi=_DPI, format="png")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
