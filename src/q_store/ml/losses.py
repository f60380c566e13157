"""Loss functions returning ``(loss, d loss / d predictions)`` for the chain rule.

Every loss is a plain function of a batch of predictions and targets. The gradient has the
shape of the predictions, so it can be fed as the cotangent of a vector-Jacobian product
through circuit expectation values. Inputs are validated here, at the boundary.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from q_store.errors import ConfigError, ValidationError

__all__ = [
    "LOSSES",
    "LossFn",
    "binary_cross_entropy",
    "cross_entropy",
    "get_loss",
    "mse",
    "softmax_cross_entropy",
]

LossFn = Callable[..., tuple[float, np.ndarray]]


def _finite(x: object, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{name} must be a real numeric array; got {x!r}") from exc
    if arr.size == 0:
        raise ValidationError(f"{name} must not be empty; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValidationError(f"{name} must be finite; found NaN or infinity")
    return arr


def _batch_matrix(x: object, name: str) -> np.ndarray:
    arr = _finite(x, name)
    if arr.ndim != 2:
        raise ValidationError(f"{name} must have shape (batch, classes); got shape {arr.shape}")
    return arr


def _labels(labels: object, shape: tuple[int, int]) -> np.ndarray:
    """Integer labels (B,) or one-hot / soft labels (B, C) as a (B, C) weight matrix."""
    b, c = shape
    raw = np.asarray(labels)
    if raw.shape == (b,):
        if raw.dtype.kind not in "iub":
            vals = _finite(raw, "labels")
            if not np.all(vals == np.round(vals)):
                raise ValidationError("integer labels must be whole numbers; got "
                                      f"{raw.tolist()}")
            raw = vals.astype(np.int64)
        idx = raw.astype(np.int64)
        if (idx < 0).any() or (idx >= c).any():
            raise ValidationError(f"labels must lie in [0, {c}); got values from "
                                  f"{int(idx.min())} to {int(idx.max())}")
        onehot = np.zeros(shape)
        onehot[np.arange(b), idx] = 1.0
        return onehot
    if raw.shape == shape:
        y = _finite(raw, "labels")
        if np.any(y < 0):
            raise ValidationError("one-hot labels must be non-negative")
        return y
    raise ValidationError(f"labels must have shape ({b},) of class indices or {shape} one-hot; "
                          f"got shape {raw.shape}")


def _check_eps(eps: float, upper: float) -> float:
    eps = float(eps)
    if not (0.0 < eps < upper):
        raise ConfigError(f"eps must lie in (0, {upper}); got {eps!r}")
    return eps


def mse(predictions: object, targets: object) -> tuple[float, np.ndarray]:
    """Mean squared error over all elements of ``predictions`` (B, K) or (B,).

    ``targets`` has the shape of ``predictions``, or (B,) when ``predictions`` is (B, 1).
    """
    p = _finite(predictions, "predictions")
    t = _finite(targets, "targets")
    if p.ndim not in (1, 2):
        raise ValidationError(f"predictions must have shape (batch,) or (batch, outputs); "
                              f"got shape {p.shape}")
    if t.shape != p.shape:
        if p.ndim == 2 and p.shape[1] == 1 and t.shape == (p.shape[0],):
            t = t.reshape(p.shape)
        else:
            raise ValidationError(f"targets must have the predictions' shape {p.shape} "
                                  f"((batch,) is allowed for (batch, 1)); got shape {t.shape}")
    diff = p - t
    return float(np.mean(diff * diff)), (2.0 / diff.size) * diff


def cross_entropy(probabilities: object, labels: object,
                  eps: float = 1e-12) -> tuple[float, np.ndarray]:
    """Mean negative log-likelihood of class ``probabilities`` (B, C).

    Probabilities are clipped to ``[eps, 1]``; the gradient is zero where clipping is active.
    ``labels`` are class indices (B,) or one-hot (B, C).
    """
    eps = _check_eps(eps, 1.0)
    p = _batch_matrix(probabilities, "probabilities")
    y = _labels(labels, p.shape)
    pc = p.clip(eps, 1.0)
    b = p.shape[0]
    loss = -float((y * np.log(pc)).sum()) / b
    inside = (p >= eps) & (p <= 1.0)
    grad = np.where(inside, -y / (b * pc), 0.0)
    return loss, grad


def softmax_cross_entropy(logits: object, labels: object) -> tuple[float, np.ndarray]:
    """Cross entropy of ``softmax(logits)`` (B, C), computed stably via log-sum-exp."""
    z = _batch_matrix(logits, "logits")
    y = _labels(labels, z.shape)
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    log_softmax = z - lse
    b = z.shape[0]
    loss = -float(np.sum(y * log_softmax)) / b
    grad = (np.exp(log_softmax) * y.sum(axis=1, keepdims=True) - y) / b
    return loss, grad


def binary_cross_entropy(probabilities: object, labels: object,
                         eps: float = 1e-12) -> tuple[float, np.ndarray]:
    """Mean binary cross entropy of probabilities (B,) or (B, 1) against labels in [0, 1].

    Probabilities are clipped to ``[eps, 1 - eps]``; the gradient is zero where clipping is
    active. ``labels`` may be (B,) or (B, 1).
    """
    eps = _check_eps(eps, 0.5)
    p = _finite(probabilities, "probabilities")
    if not (p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1)):
        raise ValidationError(f"probabilities must have shape (batch,) or (batch, 1); "
                              f"got shape {p.shape}")
    y = _finite(labels, "labels")
    if y.size != p.shape[0] or y.ndim not in (1, 2):
        raise ValidationError(f"labels must have shape ({p.shape[0]},) or ({p.shape[0]}, 1); "
                              f"got shape {y.shape}")
    y = y.reshape(p.shape)
    if np.any((y < 0) | (y > 1)):
        raise ValidationError("binary labels must lie in [0, 1]")
    pc = np.clip(p, eps, 1.0 - eps)
    b = p.shape[0]
    loss = -float(np.sum(y * np.log(pc) + (1.0 - y) * np.log1p(-pc))) / b
    inside = (p >= eps) & (p <= 1.0 - eps)
    grad = np.where(inside, (-y / pc + (1.0 - y) / (1.0 - pc)) / b, 0.0)
    return loss, grad


LOSSES: dict[str, LossFn] = {
    "mse": mse,
    "cross_entropy": cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
}


def get_loss(name: str) -> LossFn:
    """The loss function called ``name``: one of ``LOSSES``."""
    fn = LOSSES.get(name)
    if fn is None:
        raise ConfigError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return fn
