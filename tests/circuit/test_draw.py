"""Text drawings: exact output for a small circuit, alignment for random ones."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, theta, x
from q_store.circuit.draw import draw_text
from tests.reference import random_circuit


def test_small_circuit_exact() -> None:
    c = (Circuit(3).h(0).cnot(0, 2).ry(1, theta[0]).rx(2, 0.5).swap(0, 1).crz(2, 0, 0.25)
         .toffoli(0, 2, 1).zz(1, 2, 0.1))
    assert draw_text(c) == "\n".join([
        "q0: ─H──●────────────────×──RZ(0.25)──●───────────",
        "q1: ────┼──RY(theta[0])──×─────┼──────X──ZZ(0.1)──",
        "q2: ────X────RX(0.5)───────────●──────●──ZZ(0.1)──",
    ])
    assert str(c) == c.draw() == draw_text(c)


def test_gates_share_a_column_when_wires_are_free() -> None:
    c = Circuit(2).h(0).x(1).cz(0, 1)
    assert draw_text(c) == "q0: ─H──●──\nq1: ─X──●──"


def test_empty_circuit() -> None:
    assert draw_text(Circuit(2)) == "q0: ─\nq1: ─"


def test_labels_show_expressions_and_short_numbers() -> None:
    c = Circuit(2).rx(0, 2 * theta[0] + x[1]).phase(1, np.pi).ms(0, 1, 0.0, 0.5, 0.25)
    text = draw_text(c)
    assert "RX(2*theta[0] + x[1])" in text
    assert "P(3.142)" in text
    assert text.count("MS(0, 0.5, 0.25)") == 2


@pytest.mark.parametrize("seed", range(3))
def test_random_circuits_are_aligned(seed: int) -> None:
    c = random_circuit(11, 40, np.random.default_rng(seed), symbolic=bool(seed % 2))
    lines = draw_text(c).split("\n")
    assert len(lines) == c.n_qubits
    assert len({len(line) for line in lines}) == 1
    assert [line.split(":")[0].strip() for line in lines] == [f"q{w}" for w in range(11)]
    assert lines[10].startswith("q10: ") and lines[0].startswith("q0 : ")


def test_connector_crosses_intermediate_wires() -> None:
    lines = draw_text(Circuit(4).cnot(3, 0)).split("\n")
    assert [line[5] for line in lines] == ["X", "┼", "┼", "●"]
