"""Measurement plans: qubit-wise-commuting terms share a basis, incompatible ones never do, the
basis changes rotate each Pauli onto Z, and the plan's expectations equal the exact ones."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.circuit import Circuit, I, Observable, PauliString, Projector, X, Y, Z
from q_store.errors import ObservableError
from q_store.execution.measurement import measurement_plan
from q_store.sim import StatevectorSimulator

SIM = StatevectorSimulator()
EXACT = 1e-12
CIRCUIT = (Circuit(3).ry(0, 0.7).rx(1, 1.1).h(2).cnot(0, 1).rz(1, 0.4).cry(2, 0, 0.9)
           .s(2).rxx(1, 2, 0.6).u3(0, 0.3, 1.2, -0.5))


def plan_values(obs: tuple[Observable, ...], circuit: Circuit) -> np.ndarray:
    plan = measurement_plan(obs, circuit.n_qubits)
    probs = [SIM.probabilities(c)[None] for c in plan.circuits(circuit)]
    return plan.expectations(probs)[0]


def test_qubit_wise_commuting_terms_share_one_basis() -> None:
    plan = measurement_plan((X(0), X(0) @ X(1), Z(2)), 3)
    assert plan.bases == (((0, "X"), (1, "X")),)
    assert len(plan.weights) == 1 and plan.weights[0].shape == (3, 8)


def test_z_only_observables_need_no_basis_change() -> None:
    bell = Circuit(2).h(0).cnot(0, 1)
    plan = measurement_plan((Z(0), Z(0) @ Z(1), Projector("11", (0, 1))), 2)
    assert plan.bases == ((),)
    assert plan.circuits(bell) == [bell]


@pytest.mark.parametrize(("obs", "n_bases"), [
    ((X(0), Y(0), Z(0)), 3),
    ((X(0) @ X(1), Y(0) @ Y(1)), 2),  # they commute, but not qubit-wise
    ((X(0) + Z(0),), 2),  # the terms of one sum may need different bases
    ((X(0), Y(1), Z(2), X(0) @ Y(1) @ Z(2)), 1),
])
def test_incompatible_terms_get_their_own_basis(obs: tuple[Observable, ...],
                                                n_bases: int) -> None:
    assert len(measurement_plan(obs, 3).bases) == n_bases


@pytest.mark.parametrize("seed", range(6))
def test_every_term_is_measured_once_in_a_compatible_basis(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 4
    obs: list[PauliString] = []
    for _ in range(8):
        wires = rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False)
        obs.append(PauliString(tuple(sorted((int(w), "XYZ"[rng.integers(3)]) for w in wires)),
                               float(rng.uniform(0.5, 2.0))))
    plan = measurement_plan(tuple(obs), n)
    assert len(plan.bases) <= len(obs)
    for k, term in enumerate(obs):
        used = [b for b, w in enumerate(plan.weights) if np.any(w[k])]
        assert len(used) == 1, (term, plan.bases)
        basis = dict(plan.bases[used[0]])
        for w, letter in term.paulis:
            assert basis.get(w, "Z") == letter, (term, plan.bases[used[0]])


@pytest.mark.parametrize("letter", ["X", "Y", "Z"])
def test_basis_change_rotates_the_pauli_onto_z(letter: str) -> None:
    plan = measurement_plan((PauliString(((0, letter),)),), 1)
    (basis,) = plan.bases
    u = np.eye(2, dtype=complex)
    for op in plan.rotations(basis):
        u = op.spec.matrix() @ u
    pauli = PauliString(((0, letter),)).matrix(1)
    np.testing.assert_allclose(u @ pauli @ u.conj().T, Z(0).matrix(1), atol=EXACT)


def test_plan_expectations_are_exact() -> None:
    obs: tuple[Observable, ...] = (
        X(0), Y(1), Z(2), X(0) @ Y(1) @ Z(2), Y(0) @ Y(2),
        0.3 * X(0) @ X(1) - 0.7 * Y(2) + 0.25 * I(), -1.5 * I(),
        Projector("101", (0, 1, 2)), Projector("1", (1,)), 0.5 * Z(0) + 2.0 * X(1) @ Z(2))
    np.testing.assert_allclose(plan_values(obs, CIRCUIT), SIM.expectation(CIRCUIT, obs),
                               rtol=0, atol=EXACT)


def test_expectations_of_a_batch() -> None:
    obs = (X(0), Z(1) @ Z(2))
    plan = measurement_plan(obs, 3)
    circuits = [CIRCUIT, Circuit(3).h(0).x(1), Circuit(3).x(0).h(2)]
    per_basis = [np.array([SIM.probabilities(plan.circuits(c)[b]) for c in circuits])
                 for b in range(len(plan.bases))]
    got = plan.expectations(per_basis)
    want = np.array([SIM.expectation(c, obs) for c in circuits])
    np.testing.assert_allclose(got, want, rtol=0, atol=EXACT)
    np.testing.assert_allclose(got[1:], [[1.0, -1.0], [0.0, 0.0]], atol=EXACT)


def test_bad_observables_are_refused() -> None:
    with pytest.raises(ObservableError, match="acts on wire 3"):
        measurement_plan((Z(3),), 3)

    class Custom(Observable):
        @property
        def wires(self) -> tuple[int, ...]:
            return (0,)

    with pytest.raises(ObservableError, match="cannot measure"):
        measurement_plan((Custom(),), 1)
