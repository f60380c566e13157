"""The model's weight and state setters that checkpoints restore through: real, finite values
of the right shape, checked before anything changes; a layer keeps no backend of its own."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from q_store.errors import ValidationError
from q_store.ml import QuantumModel
from q_store.ml.layers import HardwareEfficientQuantumLayer, QuantumLayer


def model() -> QuantumModel:
    m = QuantumModel(4, 2, 2, task="classification", seed=0)
    m.quantum_layer.freeze_parameters([0, 3])
    return m


@pytest.mark.parametrize("set_", [
    lambda m: setattr(m, "weights", m.weights + 0.5j),
    lambda m: setattr(m, "weights", m.weights.astype(complex)),
    lambda m: setattr(m.quantum_layer, "parameters",
                      m.quantum_layer.parameters.astype(np.complex64)),
    lambda m: m.load_state({"weights": m.weights * (1 + 1j)}),
], ids=["model_weights", "model_weights_zero_imag", "layer_parameters", "load_state"])
def test_complex_weights_are_refused_and_nothing_changes(set_) -> None:
    m = model()
    before = m.weights.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old setters truncated with a ComplexWarning
        with pytest.raises(ValidationError, match="must be real numbers; got complex"):
            set_(m)
    np.testing.assert_array_equal(m.weights, before)


@pytest.mark.parametrize("state,match", [
    ({"weights": np.zeros(5)}, "weights must be"),
    ({"weights": np.full(24, np.nan)}, "finite"),
    ({"weights": np.zeros(24), "trainable": np.ones(23, dtype=bool)}, "trainable must be 24"),
    ({"weights": np.zeros(24), "trainable": np.full(24, 2)}, "trainable must be 24"),
    ({"weights": np.zeros(24), "trainable": np.ones(24), "architecture": {"n_qubits": 9}},
     "different architecture"),
    ({"trainable": np.ones(24, dtype=bool)}, "must be a dict with 'weights'"),
], ids=["short", "nan", "short_mask", "mask_not_bool", "architecture", "no_weights"])
def test_load_state_checks_everything_before_changing_anything(state, match) -> None:
    m = model()
    w, mask = m.weights.copy(), m.trainable_mask.copy()
    assert m.n_parameters == 24
    with pytest.raises(ValidationError, match=match):
        m.load_state(state)
    np.testing.assert_array_equal(m.weights, w)
    np.testing.assert_array_equal(m.trainable_mask, mask)


def test_load_state_round_trip_sets_weights_and_mask() -> None:
    src, dst = model(), QuantumModel(4, 2, 2, task="classification", seed=9)
    dst.load_state(src.get_state())
    np.testing.assert_array_equal(dst.weights, src.weights)
    np.testing.assert_array_equal(dst.trainable_mask, src.trainable_mask)
    assert not dst.trainable_mask[0] and not dst.trainable_mask[3]


def test_layers_accept_the_spec_backend_argument_but_keep_no_backend() -> None:
    sentinel = object()
    for layer in (QuantumLayer(3, 1, backend=sentinel),
                  HardwareEfficientQuantumLayer(n_qubits=3, depth=2, backend=sentinel)):
        assert not hasattr(layer, "backend")
        assert all(v is not sentinel for v in vars(layer).values())
