"""``q-store train CONFIG`` and ``q-store train --resume RUN``.

A run: the config file is checked (errors name the file and the key), the data are split and
preprocessed, the model built, and the trainer trains with checkpoints in the run's directory
while a :class:`~q_store.store.RunRecorder` writes its telemetry to the run store and progress
is drawn from the same events. Ctrl-C asks the trainer to stop after the current step; it
writes ``latest.npz`` (with the position inside the epoch) and the run is marked
``interrupted``; ``--resume RUN`` continues from there to the same weights an uninterrupted
run reaches. A second Ctrl-C aborts at once (the last epoch checkpoint stays).
"""

from __future__ import annotations

import argparse
import math
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np

from q_store.cli.common import console, emit_json, store_root
from q_store.cli.progress import MODES, TrainingProgress
from q_store.errors import ConfigFileError, StoreError
from q_store.ml.trainer import QuantumTrainer
from q_store.runconfig import load_document, load_run_config
from q_store.runconfig.build import (
    PreparedData,
    build_model,
    model_summary,
    prepare_data,
    run_paths,
)
from q_store.runconfig.load import RunConfig
from q_store.runconfig.preprocess import Preprocessor
from q_store.store import RunRecorder, RunStore

__all__ = ["add_arguments", "run_train"]

EXIT_INTERRUPTED = 130


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="run configuration (.toml, .yaml, .yml)")
    p.add_argument("--resume", metavar="RUN", help="continue a stored run from its latest "
                   "checkpoint (id, unique id prefix or name)")
    p.add_argument("--store", help="run store directory (default: $QSTORE_DIR, the config's "
                   "run.store, ./qstore-runs)")
    p.add_argument("--name", help="the run's name (default: run.name or the file's name)")
    p.add_argument("--epochs", type=int, help="train up to this many epochs in total")
    p.add_argument("--tracking", choices=("none", "mlflow"), help="override run.tracking")
    p.add_argument("--progress", choices=MODES, default="auto",
                   help="bar (terminal), lines (one per step), epochs, none; auto: bar on a "
                        "terminal, epochs otherwise")
    p.add_argument("--json", action="store_true", help="print the run's summary as JSON")
    p.add_argument("--schema", action="store_true",
                   help="print the configuration reference (markdown) and exit")
    p.add_argument("--datasets", action="store_true", help="list the data set names and exit")


def run_train(args: argparse.Namespace) -> int:
    if args.schema or args.datasets:
        from q_store.runconfig import dataset_names, render_markdown

        print(render_markdown() if args.schema else "\n".join(dataset_names()))
        return 0
    if (args.config is None) == (args.resume is None):
        raise ConfigFileError("q-store train", None, "give a CONFIG file, or --resume RUN to "
                              "continue a stored run (not both)")
    if args.resume is None:
        cfg = load_run_config(args.config)
        if args.name:
            cfg.sections["run"]["name"] = args.name
        store = RunStore(store_root(args.store, cfg["run"]["store"]))
        info = None
    else:
        store = RunStore(store_root(args.store), create=False)
        info = store.get(args.resume)
        stored = info.config
        cfg = load_document(stored["file"], source=f"run {info.id} (stored config)",
                            base_dir=stored["base_dir"])
    if args.tracking:
        cfg.sections["run"]["tracking"] = args.tracking
    if args.epochs is not None:
        cfg.sections["training"]["epochs"] = args.epochs
    try:
        return _train(args, store, cfg, info)
    finally:
        store.close()


def _train(args: argparse.Namespace, store: RunStore, cfg: RunConfig, info: Any) -> int:
    out = console(stderr=True)
    resuming = info is not None
    if cfg["run"]["tracking"] == "mlflow":  # refuse before a run is created for it
        from q_store.store.mlflow_sink import require_mlflow

        require_mlflow()
    # everything that can be wrong with the file or the data fails here, before a run is
    # created (or a stored one claimed) for it
    probe = cfg.training_config()
    data = prepare_data(cfg, probe)
    if resuming:
        data = _stored_data(cfg, probe, data, run_paths(store.run_dir(info.id))["preprocessing"])
    model = build_model(cfg, probe, data)
    if not resuming:
        info = store.create_run(cfg.name, {"file": cfg.document(),
                                           "base_dir": str(cfg.base_dir)},
                                source=cfg.source)
    else:
        info = store.claim(info.id)
    paths = run_paths(store.run_dir(info.id))
    paths["checkpoints"].mkdir(parents=True, exist_ok=True)
    if not resuming or not paths["preprocessing"].exists():
        extra = {} if data.classes is None else {"classes": np.asarray(data.classes)}
        data.preprocessor.save(paths["preprocessing"], extra)
    tc = cfg.training_config(checkpoint_dir=str(paths["checkpoints"]))
    recorder = None
    status, reason, summary = "failed", None, {}
    try:
        trainer = QuantumTrainer(tc)
        tracker = trainer.performance_tracker
        assert tracker is not None  # enable_performance_tracking is required by the schema
        recorder = RunRecorder(store.root, info.id, tracker, sinks=_sinks(cfg, info, store))
        latest = paths["checkpoints"] / "latest.npz"
        resume_from = latest if resuming and latest.exists() else None
        tracker.emit("run", run_id=info.id, name=info.name, resumed=resuming,
                     model=model_summary(model), depth=model.circuit.depth,
                     data={"features": data.n_features, "train": len(data.train[0]),
                           "validation": _len(data.validation), "test": _len(data.test),
                           "task": data.task, "output_dim": data.output_dim})
        store.update_summary(info.id, {"model": model_summary(model), "task": data.task})
        steps = math.ceil(len(data.train[0]) / tc.batch_size)
        start_epoch, start_batch = _position(resume_from)
        progress = TrainingProgress(args.progress, out, epochs=tc.epochs, steps_per_epoch=steps,
                                    start_epoch=start_epoch, start_batch=start_batch)
        unsubscribe = tracker.subscribe(progress.on_event)
        if resume_from is not None:
            progress.note(f"resuming run {info.id} at epoch {start_epoch + 1}, batch "
                          f"{start_batch + 1} of {steps}")
        else:
            progress.note(f"run {info.id}: {model!r}, {len(data.train[0])} training samples; "
                          f"store {store.root}")
        t0 = time.perf_counter()
        with _stop_on_sigint(trainer, progress):
            progress.start()
            try:
                trainer.fit(model, data.train, data.validation, resume_from=resume_from)
            finally:
                progress.stop()
                unsubscribe()
        if trainer.stop_reason is None:
            status = "completed"
            trainer.save_checkpoint(paths["checkpoints"] / "final.npz", model=model)
        else:
            status, reason = "interrupted", trainer.stop_reason
        summary = _summary(trainer, model, data, time.perf_counter() - t0)
        trainer.close()
    except KeyboardInterrupt:
        status, reason = "interrupted", "aborted (second Ctrl-C): resume from the last epoch"
        raise
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        out.print(f"run {info.id} failed; its checkpoints are kept: q-store train --resume "
                  f"{info.id} continues from the last one")
        raise
    finally:
        if recorder is not None:
            recorder.close(status, stop_reason=reason, summary=summary)
            for error in recorder.errors:
                out.print(f"[yellow]warning:[/] {error}")
        else:
            store.finish(info.id, status, stop_reason=reason)
    summary = {"run_id": info.id, "name": info.name, "status": status,
               "stop_reason": reason, **summary, "store": str(store.root)}
    if args.json:
        emit_json(summary)
    else:
        _print_summary(summary)
    return 0 if status == "completed" else EXIT_INTERRUPTED


def _len(split: Any) -> int:
    return 0 if split is None else len(split[0])


def _stored_data(cfg: RunConfig, tc: Any, data: PreparedData, path: Path) -> PreparedData:
    """A resumed run's data, transformed by its stored preprocessing, after checking that the
    data still prepare as they did when the run started."""
    if not path.exists():
        return data
    stored, stored_extra = Preprocessor.load(path)
    fitted = data.preprocessor.arrays
    if set(stored.arrays) != set(fitted) or not all(
            np.allclose(stored.arrays[k], fitted[k], rtol=1e-9, atol=1e-12) for k in fitted):
        raise StoreError(f"the data of {cfg.source} changed since the run started (the "
                         "preprocessing fitted now differs from the stored one); resuming "
                         "would not continue the same run")
    return prepare_data(cfg, tc, (stored, stored_extra.get("classes")))


def _position(checkpoint: Path | None) -> tuple[int, int]:
    """``(epochs done, batches done in the next epoch)`` of a checkpoint."""
    if checkpoint is None:
        return 0, 0
    from q_store.ml.checkpoints import load_checkpoint_file

    _, meta = load_checkpoint_file(checkpoint)
    partial = meta.get("partial") or {}
    return int(meta.get("epoch", 0)), int(partial.get("batches", 0))


def _sinks(cfg: RunConfig, info: Any, store: RunStore) -> list[Any]:
    run = cfg["run"]
    if run["tracking"] != "mlflow":
        return []
    from q_store.store.mlflow_sink import MLflowSink

    previous = info.summary.get("mlflow_run_id")
    sink = MLflowSink(info.name, cfg.document(), tracking_uri=run["mlflow_tracking_uri"],
                      experiment=run["mlflow_experiment"],
                      tags={"q_store.run_id": info.id, "q_store.store": str(store.root)},
                      resume_run_id=previous)
    store.update_summary(info.id, {"mlflow_run_id": sink.run_id})
    return [sink]


class _stop_on_sigint:
    """While training: the first Ctrl-C asks the trainer to stop after the current step, a
    second one raises KeyboardInterrupt."""

    def __init__(self, trainer: QuantumTrainer, progress: TrainingProgress) -> None:
        self.trainer, self.progress, self.count = trainer, progress, 0

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        self.trainer.request_stop()
        self.progress.note("stopping after this step and writing a checkpoint (Ctrl-C again "
                           "aborts without one)")

    def __enter__(self) -> _stop_on_sigint:
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)


def _summary(trainer: QuantumTrainer, model: Any, data: PreparedData, seconds: float
             ) -> dict[str, Any]:
    h = trainer.history
    stats = trainer.performance_tracker.get_statistics() if trainer.performance_tracker \
        else {}
    out: dict[str, Any] = {
        "epochs": trainer.epoch, "steps": trainer.step,
        "loss": h["losses"][-1] if h["losses"] else None,
        "accuracy": h["accuracy"][-1] if h["accuracy"] else None,
        "val_loss": h["val_losses"][-1] if h["val_losses"] else None,
        "val_accuracy": h["val_accuracy"][-1] if h["val_accuracy"] else None,
        "circuits": stats.get("circuits_run"), "shots": stats.get("shots"),
        "usd": trainer.budget.spent_usd, "seconds": seconds,
        "n_parameters": model.n_parameters, "n_qubits": model.n_qubits,
    }
    if data.test is not None and trainer.stop_reason is None:
        loss, acc = _evaluate(trainer, model, data.test)
        out["test_loss"], out["test_accuracy"] = loss, acc
        if trainer.performance_tracker is not None:
            trainer.performance_tracker.emit("evaluate", split="test", loss=loss, accuracy=acc,
                                             samples=len(data.test[0]))
    return out


def _evaluate(trainer: QuantumTrainer, model: Any, split: tuple[np.ndarray, np.ndarray]
              ) -> tuple[float, float | None]:
    import asyncio

    return asyncio.run(trainer.evaluate(model, split))


def _print_summary(s: dict[str, Any]) -> None:
    from q_store.execution.report import format_value, print_table

    keys = ("run_id", "name", "status", "stop_reason", "epochs", "steps", "loss", "accuracy",
            "val_loss", "val_accuracy", "test_loss", "test_accuracy", "circuits", "usd",
            "seconds", "store")
    rows = [(k, format_value(s[k], "USD" if k == "usd" else "")) for k in keys
            if s.get(k) is not None]
    print_table("q-store train", rows)
    if s["status"] == "interrupted":
        print(f"resume with: q-store train --resume {s['run_id']}"
              + (f" --store {s['store']}" if s["store"] != "qstore-runs" else ""))
