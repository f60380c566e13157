"""Losses: hand-computed values, gradients against central differences, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.errors import ConfigError, ValidationError
from q_store.ml.losses import (
    LOSSES,
    binary_cross_entropy,
    cross_entropy,
    get_loss,
    mse,
    softmax_cross_entropy,
)

EXACT = 1e-15  # values computed by the same float operations
FD_STEP = 1e-6
FD_TOL = 1e-7  # central differences: O(h^2) truncation + O(eps/h) rounding


def central_differences(fn, x: np.ndarray) -> np.ndarray:
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += FD_STEP
        xm[i] -= FD_STEP
        grad[i] = (fn(xp) - fn(xm)) / (2 * FD_STEP)
    return grad


# ---------------------------------------------------------------- values

def test_mse_value_and_gradient():
    loss, grad = mse([[1.0, 2.0], [3.0, 4.0]], [[0.0, 2.0], [3.0, 6.0]])
    assert loss == pytest.approx(1.25, abs=EXACT)  # (1 + 0 + 0 + 4) / 4
    np.testing.assert_allclose(grad, [[0.5, 0.0], [0.0, -1.0]], atol=EXACT)


def test_mse_accepts_flat_targets_for_single_output():
    loss, grad = mse([[1.0], [2.0]], [0.0, 4.0])
    assert loss == pytest.approx(2.5, abs=EXACT)  # (1 + 4) / 2
    assert grad.shape == (2, 1)
    np.testing.assert_allclose(grad, [[1.0], [-2.0]], atol=EXACT)


def test_cross_entropy_value_with_index_and_onehot_labels():
    p = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]])
    expected = -(np.log(0.5) + np.log(0.8)) / 2
    for labels in ([0, 1], np.array([[1, 0, 0], [0, 1, 0]])):
        loss, grad = cross_entropy(p, labels)
        assert loss == pytest.approx(expected, abs=EXACT)
        np.testing.assert_allclose(grad, [[-1.0, 0, 0], [0, -0.625, 0]], atol=EXACT)


def test_cross_entropy_clips_and_zeroes_clipped_gradient():
    eps = 1e-12
    loss, grad = cross_entropy([[0.0, 1.0], [0.5, 0.5]], [0, 1], eps=eps)
    assert loss == pytest.approx((-np.log(eps) - np.log(0.5)) / 2, rel=1e-14)
    assert grad[0, 0] == 0.0  # clipped from below: derivative of clip is zero
    assert grad[1, 1] == pytest.approx(-1.0, abs=EXACT)
    loss, _ = cross_entropy([[1.5, 0.0]], [0])  # above 1 clips to 1: zero loss
    assert loss == 0.0


def test_softmax_cross_entropy_values_and_stability():
    loss, grad = softmax_cross_entropy([[0.0, 0.0]], [0])
    assert loss == pytest.approx(np.log(2.0), abs=EXACT)
    np.testing.assert_allclose(grad, [[-0.5, 0.5]], atol=EXACT)
    loss, grad = softmax_cross_entropy([[1000.0, 0.0], [0.0, 1000.0]], [1, 1])
    assert loss == pytest.approx(500.0, rel=1e-14)  # (1000 + 0) / 2
    np.testing.assert_allclose(grad, [[0.5, -0.5], [0.0, 0.0]], atol=1e-15)


def test_softmax_cross_entropy_equals_cross_entropy_of_softmax():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3))
    y = rng.integers(0, 3, size=4)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert softmax_cross_entropy(z, y)[0] == pytest.approx(cross_entropy(p, y)[0], rel=1e-13)


def test_binary_cross_entropy_value_and_shapes():
    expected = -(np.log(0.8) + np.log(0.6)) / 2
    loss, grad = binary_cross_entropy([0.8, 0.4], [1, 0])
    assert loss == pytest.approx(expected, abs=EXACT)
    np.testing.assert_allclose(grad, [-1 / (2 * 0.8), 1 / (2 * 0.6)], atol=EXACT)
    loss2, grad2 = binary_cross_entropy([[0.8], [0.4]], [1, 0])
    assert loss2 == pytest.approx(expected, abs=EXACT)
    assert grad2.shape == (2, 1)


# ---------------------------------------------------------------- gradients

def _random_case(name: str, rng: np.random.Generator) -> tuple[np.ndarray, object]:
    if name == "mse":
        return rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    if name == "cross_entropy":
        p = rng.uniform(0.1, 0.9, size=(4, 3))
        return p / p.sum(axis=1, keepdims=True), rng.integers(0, 3, size=4)
    if name == "softmax_cross_entropy":
        soft = rng.uniform(size=(4, 3))
        return rng.normal(size=(4, 3)), soft / soft.sum(axis=1, keepdims=True)
    return rng.uniform(0.1, 0.9, size=5), rng.uniform(size=5)  # soft binary labels


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("seed", range(3))
def test_gradient_matches_central_differences(name, seed):
    fn = get_loss(name)
    pred, target = _random_case(name, np.random.default_rng(seed))
    _, grad = fn(pred, target)
    assert grad.shape == pred.shape
    fd = central_differences(lambda x: fn(x, target)[0], pred)
    np.testing.assert_allclose(grad, fd, atol=FD_TOL)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize(("call", "match"), [
    (lambda: mse([[1.0, 2.0]], [[1.0]]), "targets must have"),
    (lambda: mse([[np.nan]], [[1.0]]), "finite"),
    (lambda: mse(np.zeros((2, 2, 2)), np.zeros((2, 2, 2))), "shape"),
    (lambda: mse([], []), "empty"),
    (lambda: cross_entropy([0.5, 0.5], [0]), r"\(batch, classes\)"),
    (lambda: cross_entropy([[0.5, 0.5]], [2]), r"labels must lie in \[0, 2\)"),
    (lambda: cross_entropy([[0.5, 0.5]], [-1]), r"labels must lie in \[0, 2\)"),
    (lambda: cross_entropy([[0.5, 0.5]], [0.5]), "whole numbers"),
    (lambda: cross_entropy([[0.5, 0.5]], [[1.0, 0.0, 0.0]]), "one-hot"),
    (lambda: cross_entropy([[0.5, 0.5]], [[-1.0, 2.0]]), "non-negative"),
    (lambda: softmax_cross_entropy([[np.inf, 0.0]], [0]), "finite"),
    (lambda: binary_cross_entropy([0.5, 0.5], [1.0, 2.0]), r"\[0, 1\]"),
    (lambda: binary_cross_entropy([[0.5, 0.5]], [1.0]), r"\(batch, 1\)"),
    (lambda: binary_cross_entropy([0.5, 0.5], [1.0]), "labels must have shape"),
    (lambda: mse([["a"]], [[1.0]]), "real numeric"),
])
def test_bad_input_raises_validation_error(call, match):
    with pytest.raises(ValidationError, match=match):
        call()


@pytest.mark.parametrize("eps", [0.0, -1e-3, 1.0])
def test_bad_eps_is_a_config_error(eps):
    with pytest.raises(ConfigError, match="eps must lie in"):
        cross_entropy([[0.5, 0.5]], [0], eps=eps)


def test_get_loss_lists_allowed_names():
    assert get_loss("mse") is mse
    with pytest.raises(ConfigError, match=r"unknown loss 'l1'; choose one of mse, cross_entropy"):
        get_loss("l1")
