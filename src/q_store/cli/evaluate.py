"""``q-store evaluate RUN --data ...``: a stored run's model on data, from a checkpoint.

``--data`` is a split of the run's own data set (``test``, ``validation``, ``train``: the same
seeded split as training) or a ``.npz`` / ``.csv`` file (prepared with the run's stored
preprocessing and label mapping). The result is printed and recorded in the run store as an
``evaluate`` event.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from q_store.cli.common import emit_json, store_root
from q_store.errors import StoreError, ValidationError
from q_store.ml.trainer import QuantumTrainer
from q_store.runconfig import load_document
from q_store.runconfig.build import build_model, prepare_data, run_paths, transform
from q_store.runconfig.datasets import load_file
from q_store.runconfig.preprocess import Preprocessor
from q_store.store import RunStore

__all__ = ["add_arguments", "run_evaluate"]

_SPLITS = ("test", "validation", "train")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run id, unique id prefix or name")
    p.add_argument("--data", default="test",
                   help="test, validation, train (the run's own splits) or a .npz/.csv file "
                        "(default: test)")
    p.add_argument("--checkpoint", default="final",
                   help="final, latest, or a checkpoint file (default: final, else latest)")
    p.add_argument("--store", help="run store directory")
    p.add_argument("--json", action="store_true", help="JSON output")


def run_evaluate(args: argparse.Namespace) -> int:
    with RunStore(store_root(args.store), create=False) as store:
        info = store.get(args.run)
        stored = info.config
        cfg = load_document(stored["file"], source=f"run {info.id} (stored config)",
                            base_dir=stored["base_dir"])
        paths = run_paths(store.run_dir(info.id))
        tc = cfg.training_config()
        stored_pre = None
        if paths["preprocessing"].exists():  # exactly the transformation training used
            pre, extra = Preprocessor.load(paths["preprocessing"])
            stored_pre = (pre, extra.get("classes"))
        data = prepare_data(cfg, tc, stored_pre)
        if args.data in _SPLITS:
            split = {"test": data.test, "validation": data.validation,
                     "train": data.train}[args.data]
            if split is None:
                raise ValidationError(f"run {info.id} has no {args.data} split (its "
                                      f"{args.data}_fraction is 0); pass --data FILE")
        else:
            options = {k: v for k, v in cfg["dataset"].items() if k != "name"}
            raw = load_file(args.data, **options)
            split = transform(data, raw.x, raw.y)
        model = build_model(cfg, tc, data)
        checkpoint = _checkpoint(paths["checkpoints"], args.checkpoint)
        trainer = QuantumTrainer(tc.replace(checkpoint_dir=None))
        trainer.restore(checkpoint, model)
        loss, acc = asyncio.run(trainer.evaluate(model, split))
        trainer.close()
        result: dict[str, Any] = {"run_id": info.id, "data": args.data,
                                  "checkpoint": str(checkpoint), "samples": len(split[0]),
                                  "loss": loss, "accuracy": acc}
        event = {"t": _now(), "event": "evaluate", "split": args.data, "loss": loss,
                 "accuracy": acc, "samples": len(split[0]), "checkpoint": str(checkpoint)}
        store.write_events(info.id, [event])
    if args.json:
        emit_json(result)
    else:
        from q_store.execution.report import format_value, print_table

        print_table(f"q-store evaluate {info.id}", [(k, format_value(v)) for k, v in
                                                     result.items() if v is not None])
    return 0


def _checkpoint(directory: Path, which: str) -> Path:
    if which in ("final", "latest"):
        for name in ([f"{which}.npz"] + (["latest.npz"] if which == "final" else [])):
            p = directory / name
            if p.exists():
                return p
        raise StoreError(f"no {which} checkpoint in {directory}")
    p = Path(which)
    if not p.exists():
        raise StoreError(f"no checkpoint {p}")
    return p


def _now() -> float:
    import time

    return time.time()
