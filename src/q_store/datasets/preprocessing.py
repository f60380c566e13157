"""Preprocessing to a qubit budget: pixel downsampling, PCA, scaling, amplitude normalisation.

Every step is a frozen value with ``fit(X) -> fitted step`` and ``transform(X)``. Steps that
learn from data (:class:`PCA`, :class:`Standardize`, :class:`MinMaxScale`) return a *new*,
fitted value from ``fit`` and refuse to ``transform`` before; ``transform`` never refits, so a
pipeline fitted on the training split applies the training statistics to the test split.
Steps that learn nothing (:class:`Downsample`, :class:`AmplitudeNormalize`) are their own
fitted form. :func:`qubit_budget` builds the pipeline that fits an encoding on ``n`` qubits.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from q_store.errors import ConfigError, StateError, ValidationError

__all__ = [
    "PCA",
    "AmplitudeNormalize",
    "Downsample",
    "MinMaxScale",
    "Pipeline",
    "Standardize",
    "Step",
    "qubit_budget",
]


class Step(Protocol):
    """What every preprocessing step (and :class:`Pipeline`) offers."""

    @property
    def fitted(self) -> bool: ...

    def fit(self, x: object) -> Step: ...

    def transform(self, x: object) -> np.ndarray: ...

    def n_features_out(self, n_in: int) -> int: ...

    def image_shape_after(self, shape: tuple[int, ...] | None) -> tuple[int, ...] | None: ...

    def describe(self) -> str: ...


def _matrix(x: object, what: str, n_features: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise ValidationError(f"{what}: expected a real numeric array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValidationError(f"{what}: expected a 2-D array (samples, features), got shape "
                              f"{arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValidationError(f"{what}: fitted on {n_features} features, got {arr.shape[1]}")
    out = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(out)):
        raise ValidationError(f"{what}: input contains NaN or infinity")
    return out


def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:12]


def _not_fitted(step: str) -> ValidationError:
    return ValidationError(f"{step} is not fitted: call fit(training X) first and transform "
                           "with the value fit returns")


def _elementwise_shape(shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return shape


# -- fit-free steps -------------------------------------------------------------------------------
def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` box-filter weights: output cell ``j`` averages the input interval
    ``[j n_in / n_out, (j + 1) n_in / n_out)``, partial pixels weighted by their overlap."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges[:-1, None], edges[1:, None]
    pix = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pix + 1) - np.maximum(lo, pix), 0.0, None)
    return overlap / (n_in / n_out)


@dataclass(frozen=True)
class Downsample:
    """Resample images ``image_shape`` -> ``output_shape`` by area averaging (exact block
    means when the sizes divide; fractional overlaps weighted otherwise). Input rows are
    flattened images (row-major); output rows are flattened ``output_shape`` images."""

    image_shape: tuple[int, int]
    output_shape: tuple[int, int]

    def __post_init__(self) -> None:
        for name in ("image_shape", "output_shape"):
            v = tuple(getattr(self, name))
            if len(v) != 2 or any(not isinstance(s, int | np.integer) or s < 1 for s in v):
                raise ConfigError(f"{name} must be two positive integers (rows, columns), "
                                  f"got {getattr(self, name)!r}")
            object.__setattr__(self, name, tuple(int(s) for s in v))

    fitted = True

    def fit(self, x: object) -> Downsample:
        return self

    def transform(self, x: object) -> np.ndarray:
        h, w = self.image_shape
        arr = _matrix(x, "Downsample", h * w).reshape(-1, h, w)
        rows = _area_weights(h, self.output_shape[0])
        cols = _area_weights(w, self.output_shape[1])
        return (rows @ arr @ cols.T).reshape(arr.shape[0], -1)

    def n_features_out(self, n_in: int) -> int:
        return self.output_shape[0] * self.output_shape[1]

    def image_shape_after(self, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return self.output_shape

    def describe(self) -> str:
        (h, w), (r, c) = self.image_shape, self.output_shape
        return f"area-downsample {h}x{w} -> {r}x{c}"


_ZERO_POLICIES = ("error", "uniform")


@dataclass(frozen=True)
class AmplitudeNormalize:
    """Rows zero-padded to ``2**n_qubits`` values (default: the next power of two) and scaled
    to unit norm, ready for amplitude encoding. A zero row has no direction: ``zero="error"``
    refuses it (naming the sample), ``zero="uniform"`` maps it to the uniform superposition."""

    n_qubits: int | None = None
    zero: str = "error"

    def __post_init__(self) -> None:
        n = self.n_qubits
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise ConfigError(f"n_qubits must be a positive integer or None, got {n!r}")
        if self.zero not in _ZERO_POLICIES:
            raise ConfigError(f"zero={self.zero!r} is not allowed; choose one of "
                              f"{', '.join(_ZERO_POLICIES)}")

    fitted = True

    def fit(self, x: object) -> AmplitudeNormalize:
        return self

    def n_features_out(self, n_in: int) -> int:
        if self.n_qubits is None:
            return 1 << max(0, math.ceil(math.log2(n_in)))
        if n_in > 2**self.n_qubits:
            raise ValidationError(f"amplitude encoding on {self.n_qubits} qubits holds at most "
                                  f"{2**self.n_qubits} features, got {n_in}; reduce them first "
                                  "(Downsample or PCA)")
        return 2**self.n_qubits

    def transform(self, x: object) -> np.ndarray:
        arr = _matrix(x, "AmplitudeNormalize")
        dim = self.n_features_out(arr.shape[1])
        norms = np.linalg.norm(arr, axis=1)
        zero = norms == 0.0
        if zero.any() and self.zero == "error":
            raise StateError(f"sample {int(np.flatnonzero(zero)[0])} is a zero vector, which "
                             "has no amplitude encoding; use AmplitudeNormalize(zero='uniform') "
                             "to map zero vectors to the uniform superposition")
        out = np.zeros((arr.shape[0], dim))
        out[:, : arr.shape[1]] = arr / np.where(zero, 1.0, norms)[:, None]
        out[zero] = 1.0 / math.sqrt(dim)
        return out

    def image_shape_after(self, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if shape is None or self.n_features_out(int(np.prod(shape))) != int(np.prod(shape)):
            return None
        return shape

    def describe(self) -> str:
        target = "next power of two" if self.n_qubits is None else f"{2**self.n_qubits}"
        return f"amplitude-normalise (pad to {target}, zero vectors: {self.zero})"


# -- fitted steps ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PCA:
    """Projection onto the ``n_components`` directions of largest variance of the training
    data (eigenvectors of its covariance; each sign fixed so that its largest entry is
    positive, which makes the fit deterministic)."""

    n_components: int
    mean: np.ndarray | None = field(default=None, repr=False)
    components: np.ndarray | None = field(default=None, repr=False)
    explained_variance_ratio: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        k = self.n_components
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"n_components must be a positive integer, got {k!r}")

    @property
    def fitted(self) -> bool:
        return self.components is not None

    def fit(self, x: object) -> PCA:
        arr = _matrix(x, "PCA.fit")
        n, d = arr.shape
        if self.n_components > min(n, d):
            raise ValidationError(f"PCA with {self.n_components} components needs at least "
                                  f"that many samples and features, got {n} x {d}")
        mean = arr.mean(axis=0)
        centred = arr - mean
        cov = centred.T @ centred / max(1, n - 1)
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1][: self.n_components]
        comps = vectors[:, order].T.copy()
        signs = np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])
        comps *= np.where(signs == 0, 1.0, signs)[:, None]
        total = float(np.clip(values, 0.0, None).sum())
        ratio = np.clip(values[order], 0.0, None) / total if total > 0 else \
            np.zeros(len(order))
        return replace(self, mean=mean, components=comps, explained_variance_ratio=ratio)

    def transform(self, x: object) -> np.ndarray:
        if self.components is None or self.mean is None:
            raise _not_fitted("PCA")
        arr = _matrix(x, "PCA", len(self.mean))
        return (arr - self.mean) @ self.components.T

    def n_features_out(self, n_in: int) -> int:
        return self.n_components

    def image_shape_after(self, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return None

    def describe(self) -> str:
        if self.components is None or self.explained_variance_ratio is None:
            return f"PCA to {self.n_components} components (not fitted)"
        kept = 100 * float(self.explained_variance_ratio.sum())
        return (f"PCA to {self.n_components} components ({kept:.1f} % of the training "
                f"variance; fit {_fingerprint(self.mean, self.components)})")


@dataclass(frozen=True, eq=False)
class Standardize:
    """Zero mean, unit variance per feature, with the training statistics (a feature that is
    constant in training is only centred)."""

    mean: np.ndarray | None = field(default=None, repr=False)
    scale: np.ndarray | None = field(default=None, repr=False)

    @property
    def fitted(self) -> bool:
        return self.mean is not None

    def fit(self, x: object) -> Standardize:
        arr = _matrix(x, "Standardize.fit")
        std = arr.std(axis=0)
        return replace(self, mean=arr.mean(axis=0), scale=np.where(std > 0, std, 1.0))

    def transform(self, x: object) -> np.ndarray:
        if self.mean is None or self.scale is None:
            raise _not_fitted("Standardize")
        return (_matrix(x, "Standardize", len(self.mean)) - self.mean) / self.scale

    def n_features_out(self, n_in: int) -> int:
        return n_in

    image_shape_after = staticmethod(_elementwise_shape)

    def describe(self) -> str:
        fit = "" if self.mean is None or self.scale is None else \
            f" (fit {_fingerprint(self.mean, self.scale)})"
        return f"standardise{fit}"


@dataclass(frozen=True, eq=False)
class MinMaxScale:
    """Each feature mapped linearly from its training range onto ``[low, high]`` (e.g.
    ``[0, pi]`` for angle encoding); with ``clip`` values outside the training range (test
    data) are clipped to ``[low, high]``. A feature constant in training maps to ``low``."""

    low: float = 0.0
    high: float = math.pi
    clip: bool = True
    data_min: np.ndarray | None = field(default=None, repr=False)
    data_max: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not (np.isfinite(self.low) and np.isfinite(self.high) and self.low < self.high):
            raise ConfigError(f"need finite low < high, got low={self.low!r}, "
                              f"high={self.high!r}")

    @property
    def fitted(self) -> bool:
        return self.data_min is not None

    def fit(self, x: object) -> MinMaxScale:
        arr = _matrix(x, "MinMaxScale.fit")
        return replace(self, data_min=arr.min(axis=0), data_max=arr.max(axis=0))

    def transform(self, x: object) -> np.ndarray:
        if self.data_min is None or self.data_max is None:
            raise _not_fitted("MinMaxScale")
        arr = _matrix(x, "MinMaxScale", len(self.data_min))
        span = self.data_max - self.data_min
        unit = (arr - self.data_min) / np.where(span > 0, span, 1.0)
        out = self.low + (self.high - self.low) * unit
        return np.clip(out, self.low, self.high) if self.clip else out

    def n_features_out(self, n_in: int) -> int:
        return n_in

    image_shape_after = staticmethod(_elementwise_shape)

    def describe(self) -> str:
        fit = "" if self.data_min is None or self.data_max is None else \
            f" (fit {_fingerprint(self.data_min, self.data_max)})"
        return f"min-max scale to [{self.low:g}, {self.high:g}]{fit}"


# -- pipelines ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Pipeline:
    """Steps applied in order; ``fit`` fits each step on the output of the fitted steps
    before it and returns the fitted pipeline."""

    steps: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))

    @property
    def fitted(self) -> bool:
        return all(s.fitted for s in self.steps)

    def fit(self, x: object) -> Pipeline:
        cur = _matrix(x, "Pipeline.fit")
        done = []
        for step in self.steps:
            f = step.fit(cur)
            cur = f.transform(cur)
            done.append(f)
        return Pipeline(tuple(done))

    def transform(self, x: object) -> np.ndarray:
        cur = _matrix(x, "Pipeline")
        for step in self.steps:
            cur = step.transform(cur)
        return cur

    def n_features_out(self, n_in: int) -> int:
        for step in self.steps:
            n_in = step.n_features_out(n_in)
        return n_in

    def image_shape_after(self, shape: tuple[int, ...] | None) -> tuple[int, ...] | None:
        for step in self.steps:
            shape = step.image_shape_after(shape)
        return shape

    def describe(self) -> str:
        return " -> ".join(s.describe() for s in self.steps) or "identity"


_ANGLE_ENCODINGS = ("angle", "zz_feature_map", "zz")
_REDUCTIONS = ("downsample", "pca")


def _grid(n: int) -> tuple[int, int]:
    """``(rows, cols)`` with ``rows * cols = n``, as square as possible, rows >= cols."""
    cols = max(c for c in range(1, math.isqrt(n) + 1) if n % c == 0)
    return n // cols, cols


def qubit_budget(n_qubits: int, encoding: str = "amplitude", *,
                 n_features: int | None = None, image_shape: tuple[int, int] | None = None,
                 reduce: str = "downsample", zero: str = "error") -> Pipeline:
    """An unfitted pipeline turning raw features into an ``encoding`` on ``n_qubits`` qubits.

    * ``amplitude``: at most ``2**n`` features, then unit norm (:class:`AmplitudeNormalize`).
    * ``angle`` / ``zz_feature_map``: ``n`` features min-max scaled to angles ``[0, pi]``.

    Too many features are reduced by ``reduce``: ``"downsample"`` (images only: area averaging
    to a ``rows x cols`` grid of the allowed size) or ``"pca"`` (fitted on the training data).
    Give ``image_shape`` for images, else ``n_features``."""
    if not isinstance(n_qubits, int) or isinstance(n_qubits, bool) or n_qubits < 1:
        raise ConfigError(f"n_qubits must be a positive integer, got {n_qubits!r}")
    enc = str(encoding).lower()
    if enc != "amplitude" and enc not in _ANGLE_ENCODINGS:
        raise ConfigError(f"qubit_budget supports encoding 'amplitude', 'angle' or "
                          f"'zz_feature_map', got {encoding!r}")
    if reduce not in _REDUCTIONS:
        raise ConfigError(f"reduce={reduce!r} is not allowed; choose one of "
                          f"{', '.join(_REDUCTIONS)}")
    if image_shape is not None:
        image_shape = (int(image_shape[0]), int(image_shape[1]))
        n_in = image_shape[0] * image_shape[1]
    elif n_features is not None:
        n_in = int(n_features)
    else:
        raise ConfigError("give image_shape (images) or n_features")
    allowed = 2**n_qubits if enc == "amplitude" else n_qubits
    steps: list[Any] = []
    if n_in > allowed:
        if reduce == "pca":
            steps.append(PCA(allowed))
        elif image_shape is None:
            raise ConfigError(f"reduce='downsample' needs image data (image_shape); these "
                              f"{n_in} features need reduce='pca' to fit {allowed}")
        else:
            steps.append(Downsample(image_shape, _grid(allowed)))
    if enc == "amplitude":
        steps.append(AmplitudeNormalize(n_qubits, zero=zero))
    else:
        steps.append(MinMaxScale(0.0, math.pi))
    return Pipeline(tuple(steps))
