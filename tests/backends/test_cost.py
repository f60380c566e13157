"""Cost estimates against IonQ's published Aria pricing worked out by hand, and the budget that
refuses work before it is submitted."""

from __future__ import annotations

import math

import numpy as np
import pytest

from q_store.backends.cost import CostBudget, CostEstimate, CostModel, count_billed_gates
from q_store.backends.ionq.serialize import circuit_to_ionq
from q_store.circuit import Circuit
from q_store.circuit.gates import GATES
from q_store.errors import BudgetExceededError, ConfigError, QStoreError, ValidationError
from tests.reference import random_circuit

# 1q billed: H, RX, GPI = 3 (the identity is free); 2q billed: CNOT, RZZ, MS + Toffoli as 6 = 9
CIRCUIT = (Circuit(3).h(0).rx(1, 0.3).i(2).cnot(0, 1).rzz(1, 2, 0.5).toffoli(0, 1, 2)
           .gpi(0, 0.1).ms(0, 2, 0.0, 0.25, 0.25))
N1, N2 = 3, 9
PER_SHOT = 0.000220 * N1 + 0.000975 * N2  # 0.009435 USD
SECONDS_PER_SHOT = 135e-6 * N1 + 600e-6 * N2  # 5.805 ms
TOL = 1e-9
NATIVE = ("GPI", "GPI2", "MS", "ZZ")
QIS = tuple(g for g in GATES if g not in NATIVE)


def test_billed_gate_counts() -> None:
    assert count_billed_gates(CIRCUIT) == (N1, N2)
    assert count_billed_gates(Circuit(2)) == (0, 0)
    assert count_billed_gates(Circuit(2).i(0).i(1)) == (0, 0)
    assert count_billed_gates(Circuit(3).toffoli(2, 0, 1)) == (0, 6)
    # U3 is sent to IonQ as RZ, RY, RZ: three billed one-qubit gates
    assert count_billed_gates(Circuit(2).swap(0, 1).u3(1, 0.1, 0.2, 0.3)) == (3, 1)


def _sent_counts(circuit: Circuit) -> tuple[int, int]:
    """Count the serializer's output gate by gate: what IonQ receives and bills."""
    n1 = n2 = 0
    for gate in circuit_to_ionq(circuit)[1]:
        wires = len(gate.get("targets", [0] if "target" in gate else []))
        wires += len(gate.get("controls", [0] if "control" in gate else []))
        n1 += wires == 1
        n2 += 1 if wires == 2 else (6 * (wires - 2) if wires > 2 else 0)
    return n1, n2


@pytest.mark.parametrize("gates", [QIS, NATIVE], ids=["qis", "native"])
def test_billed_counts_are_the_serialized_gates(gates: tuple[str, ...]) -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        c = random_circuit(4, 25, rng, gates)
        assert count_billed_gates(c) == _sent_counts(c)


def test_u3_estimate_bills_three_gates() -> None:
    c = Circuit(1).u3(0, 0.1, 0.2, 0.3)
    assert len(circuit_to_ionq(c)[1]) == 3
    est = CostModel.ionq_aria(error_mitigation=False).estimate([c], 100_000)
    assert est.one_qubit_gates == 3
    assert math.isclose(est.usd, 3 * 0.000220 * 100_000, rel_tol=1e-12)
    assert math.isclose(est.seconds, 3 * 135e-6 * 100_000, rel_tol=1e-12)


@pytest.mark.parametrize(("shots", "mitigation", "usd"), [
    (1000, True, 97.50),  # 9.435 < minimum
    (10000, True, 97.50),  # 94.35 < minimum
    (20000, True, 20000 * PER_SHOT),  # 188.70
    (1000, False, 12.4166),  # 9.435 < minimum
    (2000, False, 2000 * PER_SHOT),  # 18.87
])
def test_ionq_aria_price_by_hand(shots: int, mitigation: bool, usd: float) -> None:
    est = CostModel.ionq_aria(error_mitigation=mitigation).estimate([CIRCUIT], shots)
    assert math.isclose(est.usd, usd, abs_tol=TOL)
    assert (est.circuits, est.shots, est.one_qubit_gates, est.two_qubit_gates) == (1, shots, N1,
                                                                                   N2)
    assert math.isclose(est.seconds, shots * SECONDS_PER_SHOT, rel_tol=1e-12)
    assert est.gate_shots == (N1 + N2) * shots


def test_hand_formula_values() -> None:
    assert math.isclose(PER_SHOT, 0.009435, rel_tol=1e-12)
    assert math.isclose(20000 * PER_SHOT, 188.70, rel_tol=1e-12)
    assert math.isclose(1000 * SECONDS_PER_SHOT, 5.805, rel_tol=1e-12)


def test_minimum_applies_to_each_circuit_and_counts_add_up() -> None:
    small = Circuit(1).x(0)  # 0.00022 USD per shot: always the minimum
    model = CostModel.ionq_aria()
    est = model.estimate([CIRCUIT, small, CIRCUIT], 20000)
    assert math.isclose(est.usd, 2 * 20000 * PER_SHOT + 97.50, abs_tol=TOL)
    assert (est.circuits, est.one_qubit_gates, est.two_qubit_gates) == (3, 2 * N1 + 1, 2 * N2)
    assert math.isclose(est.seconds, 20000 * (2 * SECONDS_PER_SHOT + 135e-6), rel_tol=1e-12)


def test_exact_runs_bill_one_shot() -> None:
    est = CostModel.ionq_aria(error_mitigation=False).estimate([CIRCUIT], None)
    assert est.shots is None and est.billed_shots == 1
    assert "exact" in str(est) and "shots=1" not in str(est)
    assert math.isclose(est.usd, 12.4166, abs_tol=TOL)
    assert math.isclose(est.seconds, SECONDS_PER_SHOT, rel_tol=1e-12)


def test_free_model() -> None:
    free = CostModel.free()
    assert free.is_free and not CostModel.ionq_aria().is_free
    est = free.estimate([CIRCUIT] * 4, 5000)
    assert est.usd == 0.0 and est.seconds == 0.0
    assert (est.one_qubit_gates, est.two_qubit_gates) == (4 * N1, 4 * N2)


def test_estimates_add() -> None:
    a = CostEstimate(1, 100, 2, 3, 1.5, 0.25)
    b = CostEstimate(2, 400, 5, 7, 2.0, 0.5)
    assert a + b == CostEstimate(3, 400, 7, 10, 3.5, 0.75)


# -- CostBudget ------------------------------------------------------------------------------------

@pytest.mark.parametrize("limit", [-1.0, float("nan"), True, "10", [5]])
def test_budget_limit_validated(limit: object) -> None:
    with pytest.raises(ConfigError, match="non-negative number of USD or None"):
        CostBudget(limit)  # type: ignore[arg-type]


def test_unlimited_budget_records_spending() -> None:
    budget = CostBudget(None)
    est = CostModel.ionq_aria().estimate([CIRCUIT], 20000)
    budget.charge(est)
    budget.charge(est)
    assert budget.remaining_usd == math.inf
    assert math.isclose(budget.spent_usd, 2 * est.usd) and budget.circuits == 2


def test_budget_accepts_exactly_fitting_work_and_refuses_more() -> None:
    model = CostModel.ionq_aria()
    first = model.estimate([CIRCUIT], 1000)  # 97.50
    second = model.estimate([CIRCUIT], 20000)  # 188.70
    budget = CostBudget(first.usd + second.usd)
    budget.charge(first)
    budget.charge(second)  # fits exactly (up to float rounding)
    assert math.isclose(budget.remaining_usd, 0.0, abs_tol=1e-9)
    assert budget.circuits == 2
    spent = budget.spent_usd
    budget.charge(CostModel.free().estimate([CIRCUIT], 1000))  # free work still fits
    with pytest.raises(BudgetExceededError, match="nothing was submitted") as info:
        budget.charge(model.estimate([Circuit(1).x(0)], 1))
    assert isinstance(info.value, QStoreError) and not isinstance(info.value, ValidationError)
    assert budget.spent_usd == spent and budget.circuits == 3  # the refusal recorded nothing


def test_budget_refuses_work_that_would_pass_the_limit() -> None:
    budget = CostBudget(100.0)
    est = CostModel.ionq_aria().estimate([CIRCUIT, CIRCUIT], 1000)  # 2 x 97.50
    with pytest.raises(BudgetExceededError, match=r"\$195\.00.*\$100\.00 of the \$100\.00"):
        budget.charge(est)
    assert budget.spent_usd == 0.0 and budget.circuits == 0 and budget.remaining_usd == 100.0
    budget.charge(CostModel.ionq_aria().estimate([CIRCUIT], 1000))
    assert budget.spent_usd == 97.50 and math.isclose(budget.remaining_usd, 2.5)
    assert "limit_usd=100.0" in repr(budget) and "spent_usd=97.5000" in repr(budget)
