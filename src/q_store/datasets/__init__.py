"""Data sets and preprocessing to a qubit budget.

``load(name, **options) -> Dataset`` is the one registry (``names()`` lists it): scikit-learn's
``digits``, ``iris``, ``breast_cancer``, ``moons``, ``circles`` (the ``sklearn`` extra) and
``mnist`` / ``fashion_mnist`` from the standard IDX files in a directory the user gives
(``load("fashion_mnist", path="~/data/fashion", split="train")``; nothing is ever downloaded).
:func:`qubit_budget` builds the preprocessing that fits a data set into an encoding on ``n``
qubits; :class:`Dataset` splits (stratified, seeded), folds and maps itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from q_store.datasets.dataset import Dataset
from q_store.datasets.idx import read_idx, write_idx
from q_store.datasets.mnist import FASHION_MNIST_CLASSES, MNIST_CLASSES, fashion_mnist, mnist
from q_store.datasets.preprocessing import (
    PCA,
    AmplitudeNormalize,
    Downsample,
    MinMaxScale,
    Pipeline,
    Standardize,
    qubit_budget,
)
from q_store.datasets.splits import stratified_kfold, train_test_indices
from q_store.datasets.toy import breast_cancer, circles, digits, iris, moons
from q_store.errors import ConfigError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "PCA",
    "AmplitudeNormalize",
    "Dataset",
    "Downsample",
    "MinMaxScale",
    "Pipeline",
    "Standardize",
    "load",
    "names",
    "options",
    "qubit_budget",
    "read_idx",
    "stratified_kfold",
    "train_test_indices",
    "write_idx",
]

_REGISTRY: dict[str, Callable[..., Dataset]] = {
    "digits": digits,
    "iris": iris,
    "breast_cancer": breast_cancer,
    "moons": moons,
    "circles": circles,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
}
_ALIASES = {"make_moons": "moons", "make_circles": "circles", "fashion": "fashion_mnist"}


def names() -> tuple[str, ...]:
    """The names :func:`load` accepts."""
    return tuple(_REGISTRY)


def _resolve(name: object) -> Callable[..., Dataset]:
    key = str(name).strip().lower().replace("-", "_") if isinstance(name, str) else name
    key = _ALIASES.get(key, key)  # type: ignore[arg-type]
    if key not in _REGISTRY:
        raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[key]  # type: ignore[index]


def options(name: str) -> dict[str, Any]:
    """The options ``load(name, ...)`` takes, with their defaults (``inspect.Parameter.empty``
    for required ones, e.g. ``path`` of the IDX data sets)."""
    sig = inspect.signature(_resolve(name))
    return {p.name: p.default for p in sig.parameters.values()}


def load(name: str, **opts: Any) -> Dataset:
    """The data set ``name`` (see :func:`names`) built with ``opts`` (see :func:`options`)."""
    fn = _resolve(name)
    allowed = options(name)
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} for data set {name!r}; allowed: "
                          f"{sorted(allowed) or 'none'}")
    missing = [k for k, v in allowed.items() if v is inspect.Parameter.empty and k not in opts]
    if missing:
        raise ConfigError(f"data set {name!r} needs option(s) {missing}")
    return fn(**opts)
