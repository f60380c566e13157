"""Bad input at the simulator boundary raises one clear error type, never a wrong answer."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, Func, Z, theta, x
from q_store.errors import (
    BindingError,
    CircuitError,
    ObservableError,
    StateError,
    ValidationError,
)
from q_store.sim import StatevectorSimulator

sim = StatevectorSimulator()
TEMPLATE = Circuit(2).rx(0, x[0]).ry(1, theta[0]).cnot(0, 1)


def test_wire_out_of_range():
    with pytest.raises(CircuitError, match="out of range"):
        Circuit(2).cnot(0, 2)
    with pytest.raises(CircuitError, match="distinct"):
        Circuit(2).cnot(1, 1)
    with pytest.raises(CircuitError, match=r"out of range; a wire must be an integer in \[0, 2\)"):
        Circuit(2).h(-1)


def test_unknown_gate_and_wrong_parameter_count():
    with pytest.raises(CircuitError, match="unknown gate 'FOO'"):
        Circuit(1).append("FOO", 0)
    with pytest.raises(CircuitError, match="takes 1 parameter"):
        Circuit(1).append("RX", 0)
    with pytest.raises(CircuitError, match="acts on 2 wire"):
        Circuit(3).append("CNOT", (0, 1, 2))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_angles(bad):
    with pytest.raises(CircuitError, match="finite"):
        Circuit(1).rx(0, bad)
    with pytest.raises(BindingError, match="finite"):
        sim.expectation(TEMPLATE, Z(0), [bad], [0.1])
    with pytest.raises(BindingError, match="finite"):
        sim.expectation(TEMPLATE, Z(0), [0.1], [[0.1], [bad]])


def test_wrong_number_of_values():
    with pytest.raises(BindingError, match="needs 1 weights per sample, got 2"):
        sim.expectation(TEMPLATE, Z(0), [0.1, 0.2], [0.3])
    with pytest.raises(BindingError, match="needs 1 inputs per sample, none given"):
        sim.expectation(TEMPLATE, Z(0), [0.1])
    with pytest.raises(BindingError, match="differ"):
        sim.expectation(TEMPLATE, Z(0), np.zeros((3, 1)), np.zeros((4, 1)))


def test_expression_domain_errors():
    c = Circuit(1).ry(0, Func("arccos", x[0]))
    with pytest.raises(BindingError, match="NaN or infinity"):
        sim.expectation(c, Z(0), inputs=[2.0])


def test_observable_on_missing_wire():
    with pytest.raises(ObservableError, match="wire 3"):
        sim.expectation(TEMPLATE, Z(3), [0.1], [0.2])
    with pytest.raises(ObservableError):
        sim.expectation(TEMPLATE, "Q0", [0.1], [0.2])


def test_bad_initial_states():
    with pytest.raises(StateError, match="normalised"):
        sim.state(TEMPLATE, [0.1], [0.2], initial_state=np.zeros(4))
    with pytest.raises(StateError, match="shape"):
        sim.state(TEMPLATE, [0.1], [0.2], initial_state=np.ones(3) / np.sqrt(3))
    with pytest.raises(StateError, match="finite"):
        sim.state(TEMPLATE, [0.1], [0.2], initial_state=[np.nan, 0, 0, 0])
    with pytest.raises(StateError, match="finite"):
        sim.state(TEMPLATE, [0.1], [0.2], initial_state=[[1, 0, 0, 0], [np.inf, 0, 0, 0]])


def test_gradient_requests_are_checked_where_they_run():
    # the adjoint request binds its plan's resolved batch as it is; the rest is checked there
    from q_store.gradients import AdjointGradient

    grad = AdjointGradient(sim)
    with pytest.raises(StateError, match="normalised"):
        grad.jacobian(TEMPLATE, Z(0), [0.1], [[0.2], [0.3]], initial_state=np.ones((2, 4)))
    with pytest.raises(StateError, match="finite"):
        grad.jacobian(TEMPLATE, Z(0), [0.1], [0.2], initial_state=[np.inf, 0, 0, 0])
    with pytest.raises(BindingError, match="finite"):
        grad.jacobian(TEMPLATE, Z(0), [np.nan], [0.2])
    with pytest.raises(ValidationError, match="state-vector limit"):
        grad.jacobian(Circuit(31).h(0), Z(0))


def test_bad_shots():
    for shots in (0, -5, 1.5, True):
        with pytest.raises(ValidationError, match="shots"):
            sim.sample(TEMPLATE, shots, [0.1], [0.2])


def test_errors_are_value_errors():
    assert issubclass(CircuitError, ValueError)
    assert issubclass(BindingError, ValidationError)
