"""Data sets by name, for run configurations (``[dataset] name = "digits"``).

A *loader* is a function of keyword options returning :class:`DataArrays` (or an ``(X, y)``
pair); :func:`register_dataset` adds one under a name. This module is the only place a run
configuration's ``[dataset]`` table is resolved: a loader's options are the keys of that
table, checked against the loader's signature, so a wrong key is reported with the keys that
are allowed. Built in: scikit-learn's digits, iris, breast_cancer, wine, moons and circles,
and arrays from ``.npz`` and ``.csv`` files. ``q_store.datasets``, when present, registers its
own loaders here on import (``register_dataset(name, loader, replace=True)`` to take over a
built-in name). Nothing here downloads anything.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from q_store.errors import ConfigError, ValidationError

__all__ = ["DataArrays", "dataset_names", "load_dataset", "load_file", "register_dataset"]


@dataclass(frozen=True)
class DataArrays:
    """Features ``x (n, d)`` and labels or targets ``y (n,)`` / ``(n, k)``; ``task`` when the
    loader knows it (None: inferred from ``y``)."""

    x: np.ndarray
    y: np.ndarray
    task: str | None = None
    description: str = ""


Loader = Callable[..., Any]
_REGISTRY: dict[str, Loader] = {}
_PLUGINS_LOADED = False


def register_dataset(name: str, loader: Loader, *, replace: bool = False) -> None:
    """Make ``loader(**options)`` available as ``[dataset] name = "<name>"``; ``base_dir``
    is passed when the loader takes it (the config file's directory, for relative paths)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a data set name must be a non-empty string, got {name!r}")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"data set {name!r} is already registered (replace=True replaces it)")
    _REGISTRY[name] = loader


def dataset_names() -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY)


def _load_plugins() -> None:
    global _PLUGINS_LOADED
    if not _PLUGINS_LOADED:
        _PLUGINS_LOADED = True
        if importlib.util.find_spec("q_store.datasets") is not None:
            importlib.import_module("q_store.datasets")


def load_dataset(name: str, options: dict[str, Any], base_dir: str | os.PathLike[str] = "."
                 ) -> DataArrays:
    """The arrays of data set ``name``; a ConfigError naming the option and what is allowed
    for a bad option (the caller adds the file and section)."""
    _load_plugins()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown data set {name!r}; allowed: {', '.join(dataset_names())}")
    loader = _REGISTRY[name]
    params = inspect.signature(loader).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    allowed = [n for n, p in params.items() if n != "base_dir" and p.kind in kinds]
    for key in options:
        if not takes_any and key not in allowed:
            raise ConfigError(f"{key!r} is not an option of data set {name!r}; allowed: "
                              f"{', '.join(allowed) or 'none'}")
    for n in allowed:
        if params[n].default is inspect.Parameter.empty and n not in options:
            raise ConfigError(f"data set {name!r} needs the option {n!r}")
    kwargs = dict(options)
    if "base_dir" in params:
        kwargs["base_dir"] = Path(base_dir)
    try:
        out = loader(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"data set {name!r}: {exc}") from None
    return _as_arrays(name, out)


def _as_arrays(name: str, out: Any) -> DataArrays:
    if isinstance(out, DataArrays):
        data = out
    elif isinstance(out, tuple) and len(out) == 2:
        data = DataArrays(np.asarray(out[0]), np.asarray(out[1]))
    elif hasattr(out, "x") and hasattr(out, "y"):
        data = DataArrays(np.asarray(out.x), np.asarray(out.y), getattr(out, "task", None))
    else:
        raise ConfigError(f"data set {name!r}: its loader returned {type(out).__name__}; "
                          "expected DataArrays or an (X, y) pair")
    x, y = np.asarray(data.x), np.asarray(data.y)
    if x.ndim != 2 or x.dtype.kind not in "biuf" or len(x) == 0:
        raise ValidationError(f"data set {name!r}: X must be a non-empty real matrix "
                              f"(samples, features), got {x.dtype} of shape {x.shape}")
    if len(y) != len(x):
        raise ValidationError(f"data set {name!r}: X has {len(x)} samples but y has {len(y)}")
    if not np.all(np.isfinite(x)):
        raise ValidationError(f"data set {name!r}: X contains NaN or infinity")
    return DataArrays(x.astype(float), y, data.task, data.description)


# -- built-in loaders -----------------------------------------------------------------------------

def _sklearn() -> Any:
    try:
        import sklearn.datasets as sk
    except ImportError:
        raise ConfigError("this data set comes from scikit-learn: pip install "
                          "'q-store[sklearn]'") from None
    return sk


def _bundled(fn_name: str, description: str) -> Loader:
    def load(classes: list[int] | None = None) -> DataArrays:
        x, y = getattr(_sklearn(), fn_name)(return_X_y=True)
        if classes is not None:
            keep = np.isin(y, classes)
            if not keep.any():
                raise ConfigError(f"classes {classes} select no samples; the labels are "
                                  f"{sorted(set(np.unique(y).tolist()))}")
            x, y = x[keep], y[keep]
        return DataArrays(x, y, "classification", description)

    load.__doc__ = f"scikit-learn's {description} (``classes``: keep only these labels)."
    return load


def _moons(n_samples: int = 200, noise: float = 0.1, random_state: int = 0) -> DataArrays:
    x, y = _sklearn().make_moons(n_samples=n_samples, noise=noise, random_state=random_state)
    return DataArrays(x, y, "classification", "two interleaving half circles")


def _circles(n_samples: int = 200, noise: float = 0.05, factor: float = 0.5,
             random_state: int = 0) -> DataArrays:
    x, y = _sklearn().make_circles(n_samples=n_samples, noise=noise, factor=factor,
                                   random_state=random_state)
    return DataArrays(x, y, "classification", "two concentric circles")


def _resolve(path: Any, base_dir: Path) -> Path:
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise ConfigError(f"path must be a file path, got {path!r}")
    p = Path(path).expanduser()
    return p if p.is_absolute() else base_dir / p


def _npz(path: str, x_key: str = "X", y_key: str = "y", base_dir: Path = Path(".")
         ) -> DataArrays:
    """Arrays ``x_key`` and ``y_key`` of a NumPy ``.npz`` file."""
    p = _resolve(path, base_dir)
    try:
        with np.load(p, allow_pickle=False) as f:
            missing = [k for k in (x_key, y_key) if k not in f.files]
            if missing:
                raise ValidationError(f"{p} has no array {missing[0]!r}; it holds "
                                      f"{', '.join(f.files) or 'nothing'} (set x_key / y_key)")
            return DataArrays(f[x_key], f[y_key], None, str(p))
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read {p} as an .npz file: {exc}") from None


def _csv(path: str, label_column: int | str = -1, delimiter: str = ",",
         skip_header: int | None = None, base_dir: Path = Path(".")) -> DataArrays:
    """Numeric columns of a CSV file; ``label_column`` (index or header name) is y. A first
    row that is not numeric is taken as the header."""
    p = _resolve(path, base_dir)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValidationError(f"cannot read {p}: {exc}") from None
    rows = [line.split(delimiter) for line in lines if line.strip()]
    if not rows:
        raise ValidationError(f"{p} is empty")
    header = None
    if skip_header is None:
        skip_header = 0 if _numeric_row(rows[0]) else 1
    if skip_header:
        header = [c.strip() for c in rows[skip_header - 1]]
    body = rows[skip_header:]
    try:
        table = np.array([[float(c) for c in r] for r in body])
    except ValueError as exc:
        raise ValidationError(f"{p}: every cell after the header must be a number ({exc})"
                              ) from None
    if table.ndim != 2 or table.shape[1] < 2:
        raise ValidationError(f"{p}: expected rows of equal length with 2 or more columns")
    if isinstance(label_column, str):
        if header is None or label_column not in header:
            raise ConfigError(f"label_column {label_column!r} is not a column of {p} (header: "
                              f"{header})")
        col = header.index(label_column)
    else:
        col = int(label_column) % table.shape[1]
    y = table[:, col]
    return DataArrays(np.delete(table, col, axis=1), y, None, str(p))


def _numeric_row(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True


def load_file(path: str | os.PathLike[str], **options: Any) -> DataArrays:
    """Arrays of a ``.npz`` or ``.csv`` file (for ``q-store evaluate RUN --data FILE``)."""
    p = Path(path)
    loader = {".npz": _npz, ".csv": _csv}.get(p.suffix.lower())
    if loader is None:
        raise ConfigError(f"{p}: data files must be .npz or .csv")
    names = inspect.signature(loader).parameters
    return _as_arrays(str(p), loader(str(p), **{k: v for k, v in options.items()
                                                if k in names and k != "path"}))


for _name, _fn, _desc in (("digits", "load_digits", "8x8 handwritten digits"),
                          ("iris", "load_iris", "iris flowers"),
                          ("breast_cancer", "load_breast_cancer", "breast cancer diagnosis"),
                          ("wine", "load_wine", "wine cultivars")):
    register_dataset(_name, _bundled(_fn, _desc))
register_dataset("moons", _moons)
register_dataset("circles", _circles)
register_dataset("npz", _npz)
register_dataset("csv", _csv)
