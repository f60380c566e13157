"""A trainer's state in a checkpoint and back; the trainer's checkpoint methods delegate here.

A *training checkpoint* holds everything a resumed run needs to continue bit for bit: model
weights and frozen flags, optimizer state, epoch and step, the random generator's state, the
gradient method's state (SPSA's counter, the adaptive switch), where in the epoch it stopped,
early-stopping state, the best weights, history and statistics
(plus the configuration, for the record; never an API key). :func:`restore` is atomic: the
whole file is checked first (structure, types, dtypes, shapes against the model and optimizer,
ranges) and only then assigned, so a bad checkpoint raises :class:`CheckpointError` and leaves
the model and trainer exactly as they were.

A *spec-style checkpoint* (``trainer.save_checkpoint(dict, path)``) stores a dict of numbers,
strings, booleans, None, lists and dicts of those, and NumPy arrays of numeric dtype; anything
else is refused with an error naming its key and type (it used to be stored as its ``str()``).
"""

from __future__ import annotations

import math
import numbers
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from q_store.errors import CheckpointError, ValidationError
from q_store.ml.checkpoints import (
    MAX_JSON_DEPTH,
    ArraySpec,
    load_checkpoint_file,
    prune_epoch_checkpoints,
    save_checkpoint_file,
)
from q_store.ml.optimizers import state_from_arrays, state_to_arrays

if TYPE_CHECKING:
    from q_store.ml.models import QuantumModel
    from q_store.ml.trainer import QuantumTrainer

__all__ = ["FORMAT", "load", "plain", "restore", "save", "save_periodic"]

FORMAT = "q_store.checkpoint/2"  # /2: the gradient method's state replaced spsa_k
_FORMAT_1 = "q_store.checkpoint/1"
ARRAY_REF = "__array__"
_ALLOWED = ("allowed: numbers, strings, booleans, None, lists and dicts (string keys) of those, "
            "and NumPy arrays of numeric or boolean dtype")


# -- plain values ---------------------------------------------------------------------------------

def plain(value: Any, where: str = "value", depth: int = 0) -> Any:
    """A JSON-ready copy of ``value``; a ValidationError naming ``where`` and the type for
    anything that is not a number, string, boolean, None, or list/dict of those."""
    if depth > MAX_JSON_DEPTH:
        raise ValidationError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels (or "
                              "contains itself)")
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, list | tuple):
        return [plain(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {_key(k, where): plain(v, f"{where}.{k}", depth + 1) for k, v in value.items()}
    raise ValidationError(f"cannot store {where} (a {type(value).__name__}) in a checkpoint; "
                          f"{_ALLOWED}")


def _key(k: object, where: str) -> str:
    if not isinstance(k, str):
        raise ValidationError(f"cannot store {where}: its key {k!r} is a {type(k).__name__}; "
                              "checkpoint dict keys must be strings")
    if k == ARRAY_REF:
        raise ValidationError(f"cannot store {where}: the key {ARRAY_REF!r} is reserved")
    return k


def _encode_user(d: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays pulled out under generated names; everything else plain JSON."""
    arrays: dict[str, np.ndarray] = {}

    def enc(v: Any, where: str, depth: int) -> Any:
        if depth > MAX_JSON_DEPTH:
            raise ValidationError(f"{where} is nested deeper than {MAX_JSON_DEPTH} levels (or "
                                  "contains itself)")
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biufc" or v.dtype.fields is not None:
                raise ValidationError(f"cannot store {where}: a NumPy array of dtype {v.dtype}; "
                                      f"{_ALLOWED}")
            name = f"user.{len(arrays)}"
            arrays[name] = v
            return {ARRAY_REF: name}
        if isinstance(v, dict):
            return {_key(k, where): enc(c, f"{where}.{k}", depth + 1) for k, c in v.items()}
        if isinstance(v, list | tuple):
            return [enc(c, f"{where}[{i}]", depth + 1) for i, c in enumerate(v)]
        return plain(v, where, depth)

    return arrays, {k: enc(v, k, 1) for k, v in ((_key(k, "checkpoint"), v)
                                                 for k, v in d.items())}


def _decode_user(arrays: dict[str, np.ndarray], meta: Any, path: Path) -> Any:
    if isinstance(meta, dict):
        if set(meta) == {ARRAY_REF}:
            name = meta[ARRAY_REF]
            if not isinstance(name, str) or name not in arrays:
                raise CheckpointError(f"{path}: metadata refers to a missing array {name!r}")
            return arrays[name]
        return {k: _decode_user(arrays, v, path) for k, v in meta.items()}
    if isinstance(meta, list):
        return [_decode_user(arrays, v, path) for v in meta]
    return meta


# -- saving ---------------------------------------------------------------------------------------

def save(trainer: QuantumTrainer, checkpoint: Any, path: str | os.PathLike[str] | None = None,
         *, model: QuantumModel | None = None) -> Path:
    """``save(trainer, path, model=model)``: the training state; ``save(trainer, dict, path)``:
    the spec's dict of arrays and plain values."""
    if isinstance(checkpoint, dict):
        if path is None:
            raise ValidationError("save_checkpoint(dict, path) needs a path")
        arrays, meta = _encode_user(checkpoint)
        return save_checkpoint_file(path, arrays, {"format": FORMAT, "user": meta})
    if model is None:
        raise ValidationError("save_checkpoint(path, model=...) needs the model")
    if not isinstance(checkpoint, str | os.PathLike):
        raise ValidationError(f"save_checkpoint takes a path (or a dict and a path), got "
                              f"{type(checkpoint).__name__}")
    arrays, meta = _capture(trainer, model)
    written = save_checkpoint_file(checkpoint, arrays, meta)
    if trainer.performance_tracker is not None:  # run stores record path and hash
        trainer.performance_tracker.emit("checkpoint", path=str(written), epoch=trainer.epoch,
                                         step=trainer.step)
    return written


def _capture(trainer: QuantumTrainer, model: QuantumModel
             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if trainer.opt_state is None:
        trainer.opt_state = trainer.optimizer.init(model.weights)
    arrays = {"weights": model.weights, "trainable": model.trainable_mask}
    arrays.update({f"opt.{k}": v for k, v in state_to_arrays(trainer.opt_state).items()})
    if trainer._best_weights is not None:
        arrays["best_weights"] = trainer._best_weights
    meta = {"format": FORMAT, "epoch": trainer.epoch, "step": trainer.step,
            "model": plain(model.describe(), "model"),
            "config": plain(trainer.config.to_dict(), "config"),
            "rng": _rng_state(trainer.rng),
            "method": {"name": trainer.method.name,  # type: ignore[union-attr]
                       "state": plain(trainer.method.state_to_plain(  # type: ignore[union-attr]
                           trainer.method_state), "method state")},
            "early": plain(trainer._early, "early"),
            "history": plain(trainer.history, "history"),
            "stats": plain(trainer._stats, "stats")}
    if trainer._partial is not None:  # an epoch stopped part-way: where to continue
        meta["partial"] = plain(trainer._partial, "partial")
    return arrays, meta


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    state = rng.bit_generator.state
    return plain({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in state.items()},
                 "rng")


def save_periodic(trainer: QuantumTrainer, model: QuantumModel) -> None:
    """After an epoch: ``epoch_NNNN.npz`` and ``latest.npz`` every ``checkpoint_every`` epochs
    (``latest`` is a hard link to the epoch file where the file system allows, so the state is
    written once), keeping the newest ``checkpoint_keep_last`` epoch files; the performance
    log."""
    cfg = trainer.config
    if cfg.checkpoint_dir is not None and trainer.epoch % cfg.checkpoint_every == 0:
        d = Path(cfg.checkpoint_dir)
        keep = cfg.checkpoint_keep_last
        if keep == 0:
            save(trainer, d / "latest.npz", model=model)
        else:
            epoch_file = save(trainer, d / f"epoch_{trainer.epoch:04d}.npz", model=model)
            if not _link_atomically(epoch_file, d / "latest.npz"):
                save(trainer, d / "latest.npz", model=model)
        prune_epoch_checkpoints(d, keep, trainer.epoch)
    if cfg.performance_log_dir is not None and cfg.enable_performance_tracking:
        p = Path(cfg.performance_log_dir)
        save_checkpoint_file(p / "performance.npz", {}, {
            "epoch": trainer.epoch, "stats": plain(trainer.get_performance_stats(), "stats"),
            "history": plain(trainer.history, "history")})


def _link_atomically(src: Path, dst: Path) -> bool:
    """Point ``dst`` at ``src``'s file (a hard link, renamed into place); False where hard
    links are not available."""
    tmp = dst.with_name(f".{dst.name}.qstore-{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        return False
    try:
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


# -- loading --------------------------------------------------------------------------------------

def load(trainer: QuantumTrainer, path: str | os.PathLike[str]) -> dict[str, Any]:
    """A spec-style dict as saved, or a training checkpoint as ``{"model_state", "epoch",
    "history", "config"}``; a CheckpointError for anything else."""
    p = Path(path)
    arrays, meta = load_checkpoint_file(p, expected=lambda m: _any_training_specs(p, m))
    if "user" in meta:
        try:
            return _decode_user(arrays, meta["user"], p)
        except RecursionError:
            raise CheckpointError(f"{p}: metadata is nested too deeply") from None
    _check_fields(p, meta, {"epoch": _count, "model": _dict, "history": _dict, "config": _dict})
    return {"model_state": {"weights": arrays["weights"], "trainable": arrays["trainable"],
                            "architecture": meta["model"]},
            "epoch": meta["epoch"], "history": meta["history"], "config": meta["config"]}


def _check_format(path: Path, meta: dict[str, Any]) -> None:
    fmt = meta.get("format")
    if fmt == _FORMAT_1 and "user" in meta:
        return  # a spec-style dict: unchanged since format 1
    if fmt == _FORMAT_1:
        raise CheckpointError(f"{path} is a training state written by an older q_store (format "
                              f"{fmt!r}, with SPSA's counter but not the gradient method's "
                              "state); it cannot resume this trainer exactly")
    if fmt != FORMAT:
        raise CheckpointError(f"{path} is not a q_store checkpoint (format {fmt!r}, expected "
                              f"{FORMAT!r})")


def _any_training_specs(path: Path, meta: dict[str, Any]) -> dict[str, ArraySpec] | None:
    """Array specs from the checkpoint's own model description (no model at hand)."""
    _check_format(path, meta)
    if "user" in meta:
        return None  # any numeric arrays, within the size cap
    model = meta.get("model")
    n = model.get("n_parameters") if isinstance(model, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 2**31:
        raise CheckpointError(f"{path}: metadata has no valid model.n_parameters")
    return _specs(n, {}, max_opt_elements=max(n, 1))


def _specs(n: int, opt: dict[str, np.ndarray], max_opt_elements: int | None = None
           ) -> dict[str, ArraySpec]:
    specs = {"weights": ArraySpec((n,), "f"), "trainable": ArraySpec((n,), "b"),
             "best_weights": ArraySpec((n,), "f", required=False)}
    if max_opt_elements is not None:  # optimizer state of n weights: no entry is larger
        specs["opt.*"] = ArraySpec(None, "biuf", max_opt_elements, required=False)
    specs.update({f"opt.{k}": ArraySpec(np.shape(v), "biuf") for k, v in opt.items()})
    return specs


def restore(trainer: QuantumTrainer, path: str | os.PathLike[str], model: QuantumModel) -> None:
    """Model weights and the complete trainer state, to resume exactly; all or nothing."""
    p = Path(path)
    template = trainer.optimizer.init(model.weights)
    opt_template = state_to_arrays(template)

    def expected(meta: dict[str, Any]) -> dict[str, ArraySpec]:
        _check_format(p, meta)
        if "user" in meta:
            raise CheckpointError(f"{p} holds a spec-style dict, not a training state; read it "
                                  "with load_checkpoint")
        return _specs(model.n_parameters, opt_template)

    arrays, meta = load_checkpoint_file(p, expected=expected)
    new = _validated_state(p, trainer, model, arrays, meta, template)
    _apply(trainer, model, new)


def _validated_state(p: Path, trainer: QuantumTrainer, model: QuantumModel,
                     arrays: dict[str, np.ndarray], meta: dict[str, Any], template: Any
                     ) -> dict[str, Any]:
    """Everything restore assigns, checked; a CheckpointError naming the first problem."""
    _check_fields(p, meta, {"epoch": _count, "step": _count, "model": _dict, "rng": _dict,
                            "method": _dict, "early": _dict, "history": _dict, "stats": _dict})
    if meta["model"] != model.describe():
        raise CheckpointError(f"{p} is for a different architecture: {meta['model']} (this "
                              f"model: {model.describe()})")
    for name in ("weights", "best_weights"):
        if name in arrays and not np.all(np.isfinite(arrays[name])):
            raise CheckpointError(f"{p}: {name} must be finite; found NaN or infinity")
    opt_arrays = {k[4:]: v for k, v in arrays.items() if k.startswith("opt.")}
    try:
        opt_state = state_from_arrays(template, opt_arrays)
    except ValidationError as e:
        raise CheckpointError(f"{p}: {e}") from None
    bit_generator = type(trainer.rng.bit_generator)()
    try:
        bit_generator.state = meta["rng"]
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise CheckpointError(f"{p}: rng is not a {type(bit_generator).__name__} state: "
                              f"{e}") from None
    method_state = _method_state(p, trainer, meta["method"])
    early = _schema(p, "early", meta["early"], {"best": _is_real_or_none, "stall": _is_count})
    history = _history(p, meta["history"], trainer.history)
    stats = _schema(p, "stats", meta["stats"], {k: _is_non_negative for k in trainer._stats})
    partial = meta.get("partial")
    if partial is not None:
        partial = _schema(p, "partial", partial, {
            "batches": _is_count, "total": _is_real, "count": _is_count, "correct": _is_count,
            "methods": lambda m: isinstance(m, dict) and all(
                isinstance(k, str) and _is_count(c) for k, c in m.items())})
    return {"weights": arrays["weights"], "trainable": arrays["trainable"], "partial": partial,
            "opt_state": opt_state, "epoch": meta["epoch"], "step": meta["step"],
            "rng": bit_generator.state, "method_state": method_state,
            "early": early, "best_weights": arrays.get("best_weights"), "history": history,
            "stats": stats, "architecture": meta["model"]}


def _method_state(p: Path, trainer: QuantumTrainer, saved: dict[str, Any]) -> Any:
    """The gradient method's state, checked against the trainer's method."""
    method = trainer.method
    assert method is not None
    if set(saved) != {"name", "state"}:
        raise CheckpointError(f"{p}: method must have 'name' and 'state', got {sorted(saved)}")
    if saved["name"] != method.name:
        raise CheckpointError(f"{p} was written by gradient_method={saved['name']!r}; this "
                              f"trainer uses {method.name!r}")
    try:
        return method.state_from_plain(saved["state"])
    except ValidationError as e:
        raise CheckpointError(f"{p}: method {e}") from None


def _apply(trainer: QuantumTrainer, model: QuantumModel, new: dict[str, Any]) -> None:
    """Assign a validated state; on any failure put the previous state back."""
    before = (model.get_state(), trainer.opt_state, trainer.epoch, trainer.step,
              trainer.rng.bit_generator.state, trainer.method_state,
              trainer._early, trainer._best_weights, trainer.history, trainer._stats,
              trainer._partial)
    try:
        model.load_state({"weights": new["weights"], "trainable": new["trainable"],
                          "architecture": new["architecture"]})
        trainer.opt_state = new["opt_state"]
        trainer.epoch, trainer.step = new["epoch"], new["step"]
        trainer.rng.bit_generator.state = new["rng"]
        trainer.method_state = new["method_state"]
        trainer._early = new["early"]
        trainer._best_weights = (None if new["best_weights"] is None
                                 else np.array(new["best_weights"], dtype=float))
        trainer.history, trainer._stats = new["history"], new["stats"]
        trainer._partial = new["partial"]
    except BaseException:
        model.load_state(before[0])
        (trainer.opt_state, trainer.epoch, trainer.step) = before[1:4]
        trainer.rng.bit_generator.state = before[4]
        trainer.method_state = before[5]
        (trainer._early, trainer._best_weights, trainer.history, trainer._stats,
         trainer._partial) = before[6:]
        raise


# -- field checks ---------------------------------------------------------------------------------

def _is_count(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _is_real(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_real_or_none(v: object) -> bool:
    return v is None or _is_real(v)


def _is_non_negative(v: object) -> bool:
    return _is_real(v) and (math.isnan(v) or v >= 0)  # type: ignore[arg-type,operator]


def _count(v: object) -> str | None:
    return None if _is_count(v) else "a non-negative integer"


def _dict(v: object) -> str | None:
    return None if isinstance(v, dict) else "an object"


def _check_fields(p: Path, meta: dict[str, Any], checks: dict[str, Any]) -> None:
    for name, check in checks.items():
        if name not in meta:
            raise CheckpointError(f"{p} is missing {name!r}; it is not a complete training "
                                  "checkpoint")
        want = check(meta[name])
        if want is not None:
            raise CheckpointError(f"{p}: {name} must be {want}, got {meta[name]!r:.80}")


def _schema(p: Path, what: str, value: dict[str, Any], fields: dict[str, Any]
            ) -> dict[str, Any]:
    if set(value) != set(fields):
        raise CheckpointError(f"{p}: {what} must have the fields {sorted(fields)}, got "
                              f"{sorted(value)}")
    for k, ok in fields.items():
        if not ok(value[k]):
            raise CheckpointError(f"{p}: {what}.{k} has an invalid value {value[k]!r:.80}")
    return dict(value)


def _history(p: Path, value: dict[str, Any], current: dict[str, list[Any]]
             ) -> dict[str, list[Any]]:
    if set(value) != set(current):
        raise CheckpointError(f"{p}: history must have the entries {sorted(current)}, got "
                              f"{sorted(value)}")
    for k, entries in value.items():
        if not isinstance(entries, list):
            raise CheckpointError(f"{p}: history.{k} must be a list")
        for e in entries:
            ok = (isinstance(e, dict) and all(isinstance(m, str) and _is_count(c)
                                              for m, c in e.items())
                  if k == "gradient_methods" else _is_real_or_none(e))
            if not ok:
                raise CheckpointError(f"{p}: history.{k} has an invalid entry {e!r:.80}")
    return {k: list(v) for k, v in value.items()}
