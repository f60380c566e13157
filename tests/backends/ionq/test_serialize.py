"""Our circuits <-> IonQ JSON, and IonQ's little-endian probability keys."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.backends.ionq.serialize import (
    circuit_from_ionq,
    circuit_to_ionq,
    gateset_of,
    probabilities_from_ionq,
    probabilities_to_ionq,
)
from q_store.circuit import Circuit
from q_store.circuit.gates import GATES
from q_store.errors import CircuitError
from q_store.sim import StatevectorSimulator
from tests.reference import random_circuit

SIM = StatevectorSimulator()
NATIVE = ("GPI", "GPI2", "MS", "ZZ")
QIS = tuple(g for g in GATES if g not in NATIVE)


def _equal_up_to_phase(a: np.ndarray, b: np.ndarray) -> bool:
    k = np.argmax(np.abs(a))
    return bool(np.allclose(b, a * (b.flat[k] / a.flat[k]), atol=1e-10))


@pytest.mark.parametrize("gates", [QIS, NATIVE], ids=["qis", "native"])
def test_round_trip_preserves_the_unitary(gates: tuple[str, ...]) -> None:
    rng = np.random.default_rng(7)
    for _ in range(8):
        c = random_circuit(4, 30, rng, gates)
        gateset, body = circuit_to_ionq(c)
        assert gateset == ("native" if gates == NATIVE else "qis")
        back = circuit_from_ionq(4, body, gateset)
        assert _equal_up_to_phase(SIM.unitary(c), SIM.unitary(back))


def test_qis_rotations_are_radians_and_native_phases_turns() -> None:
    _, body = circuit_to_ionq(Circuit(2).rx(0, 0.5).cnot(0, 1))
    assert body == [{"gate": "rx", "target": 0, "rotation": 0.5},
                    {"gate": "x", "target": 1, "control": 0}]
    _, body = circuit_to_ionq(Circuit(2).gpi2(1, 0.25).ms(0, 1, 0.1, 0.2, 0.25))
    assert body == [{"gate": "gpi2", "target": 1, "phase": 0.25},
                    {"gate": "ms", "targets": [0, 1], "phases": [0.1, 0.2], "angle": 0.25}]


def test_probability_keys_put_qubit_zero_in_the_lowest_bit() -> None:
    p = SIM.probabilities(Circuit(3).x(0))  # ours: |100> = index 4
    assert p[4] == pytest.approx(1.0)
    assert probabilities_to_ionq(p, 3) == {"1": pytest.approx(1.0)}
    np.testing.assert_array_equal(probabilities_from_ionq({"4": 1.0}, 3),
                                  SIM.probabilities(Circuit(3).x(2)))
    q = SIM.probabilities(Circuit(3).ry(0, 0.3).ry(1, 1.1).ry(2, 2.0))
    np.testing.assert_allclose(probabilities_from_ionq(probabilities_to_ionq(q, 3), 3), q)


def test_mixing_native_and_qis_gates_is_refused() -> None:
    with pytest.raises(CircuitError, match="mixes"):
        gateset_of(Circuit(1).h(0).gpi(0, 0.1))


@pytest.mark.parametrize("gate", [
    "x",                                        # not an object
    {"gate": "rx", "target": 0},                # no rotation
    {"gate": "rx", "target": True, "rotation": 0.1},
    {"gate": "rx", "target": 1.7, "rotation": 0.1},
    {"gate": "rx", "target": "1", "rotation": 0.1},
    {"gate": "rx", "target": 0, "rotation": "0.5"},
    {"gate": "gpi", "target": 0, "phase": 0.1},  # native gate in a QIS circuit
    {"gate": "foo", "target": 0},
    {"gate": "x", "target": 5},
])
def test_malformed_gates_raise_circuit_error(gate: object) -> None:
    with pytest.raises(CircuitError):
        circuit_from_ionq(3, [gate])  # type: ignore[list-item]
