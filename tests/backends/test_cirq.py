"""Cirq converters and the Cirq simulator backend against our simulators."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("cirq")

import cirq
import sympy

from q_store.backends.base import JobStatus
from q_store.backends.cirq import CirqSimulatorBackend, from_cirq, native_gates, to_cirq
from q_store.circuit import GATES, Circuit, theta
from q_store.errors import BackendError, CircuitError, ValidationError
from q_store.sim import StatevectorSimulator
from q_store.sim.density import DensityMatrixSimulator
from q_store.sim.noise import (
    NoiseModel,
    ReadoutError,
    amplitude_damping,
    depolarizing,
    phase_damping,
)
from tests.reference import random_circuit

EXACT = 1e-10
NOISY = 1e-9
SV = StatevectorSimulator()


def run(coro):
    return asyncio.run(coro)


def within_binomial(freq: np.ndarray, p: np.ndarray, shots: int) -> bool:
    return bool(np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-12))


def rich_noise() -> NoiseModel:
    one = [g for g, s in GATES.items() if s.num_wires == 1]
    return (NoiseModel()
            .add_gate_error(depolarizing(0.02), gates=one)
            .add_gate_error(depolarizing(0.05, 2))
            .add_gate_error(amplitude_damping(0.04))
            .add_gate_error(amplitude_damping(0.1), qubits=1)
            .add_gate_error(phase_damping(0.03), gates=["RX", "H", "GPI2"])
            .add_readout_error(ReadoutError(0.03, 0.01))
            .add_readout_error(ReadoutError(0.0, 0.08), qubits=2))


# -- converters ----------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_round_trip_keeps_the_unitary_exactly(n):
    rng = np.random.default_rng(20 + n)
    qubits = cirq.LineQubit.range(n)
    for _ in range(4):
        c = random_circuit(n, 30, rng)
        cc = to_cirq(c)
        assert sorted(cc.all_qubits()) == qubits  # idle wires included
        ours = SV.unitary(c)
        np.testing.assert_allclose(cirq.unitary(cc), ours, atol=EXACT)
        np.testing.assert_allclose(SV.unitary(from_cirq(cc)), ours, atol=EXACT)


def test_native_gates_are_values_with_our_matrices():
    gpi = native_gates()["GPI"]
    assert gpi(0.25) == gpi(0.25) and gpi(0.25) != gpi(0.3)
    ms = native_gates()["MS"](0.1, 0.2, 0.25)
    np.testing.assert_allclose(cirq.unitary(ms), GATES["MS"].matrix([0.1, 0.2, 0.25]),
                               atol=EXACT)
    assert "MS(0.1, 0.2, 0.25)" in str(cirq.Circuit(ms.on(*cirq.LineQubit.range(2))))
    assert from_cirq(cirq.Circuit(ms.on(*cirq.LineQubit.range(2)))) == Circuit(2).ms(
        0, 1, 0.1, 0.2, 0.25)


def test_import_of_cirq_gates_keeps_global_phase():
    a, b, c = cirq.LineQubit.range(3)
    circuit = cirq.Circuit(
        cirq.X(a) ** 0.3, cirq.Y(b) ** 0.7, cirq.Z(c) ** 0.2, cirq.H(a), cirq.S(b) ** -1,
        cirq.T(c), cirq.XPowGate(exponent=0.4, global_shift=0.3).on(a),
        cirq.ZPowGate(exponent=0.6, global_shift=0.1).on(b), cirq.rx(0.5).on(c),
        cirq.CZ(a, b) ** 0.4, cirq.CNOT(b, c) ** 0.6, cirq.XX(a, c) ** 0.3,
        cirq.ZZPowGate(exponent=0.2, global_shift=0.25).on(b, a), cirq.ms(0.7).on(a, b),
        cirq.YY(b, c) ** 0.9, cirq.ry(0.8).controlled().on(c, a),
        cirq.ControlledGate(cirq.Z ** 0.3).on(a, c), cirq.SWAP(a, c), cirq.TOFFOLI(c, a, b),
        cirq.I(b), cirq.global_phase_operation(np.exp(0.9j)),
    )
    want = cirq.unitary(circuit)
    measured = circuit + cirq.Circuit(cirq.measure(a, b, c, key="m"))
    np.testing.assert_allclose(SV.unitary(from_cirq(measured)), want, atol=EXACT)
    # other qubit types in a given wire order
    q = [cirq.NamedQubit("p"), cirq.NamedQubit("q")]
    named = cirq.Circuit(cirq.CNOT(q[1], q[0]), cirq.rz(0.3).on(q[1]))
    with pytest.raises(CircuitError, match="LineQubit"):
        from_cirq(named)
    np.testing.assert_allclose(SV.unitary(from_cirq(named, qubits=q)),
                               cirq.unitary(named), atol=EXACT)


def test_import_rejects_what_it_cannot_represent():
    a, b = cirq.LineQubit.range(2)
    with pytest.raises(CircuitError, match="ISWAP"):
        from_cirq(cirq.Circuit(cirq.ISWAP(a, b)))
    with pytest.raises(CircuitError, match="resolve_parameters"):
        from_cirq(cirq.Circuit(cirq.rx(sympy.Symbol("t")).on(a)))
    with pytest.raises(CircuitError, match="follows a measurement"):
        from_cirq(cirq.Circuit(cirq.measure(a), cirq.X(a)))
    with pytest.raises(CircuitError, match="bind"):
        to_cirq(Circuit(1).rx(0, theta[0]))


def test_missing_cirq_names_the_pip_extra():
    code = ("import sys\n"
            "sys.modules['cirq'] = None\n"
            "import q_store.backends.cirq as c\n"
            "from q_store.circuit import Circuit\n"
            "from q_store.errors import NotSupportedError\n"
            "for f in (lambda: c.to_cirq(Circuit(1).x(0)), c.CirqSimulatorBackend):\n"
            "    try:\n"
            "        f()\n"
            "    except NotSupportedError as e:\n"
            "        print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.count('pip install "q-store[cirq]"') == 2


# -- the backend ---------------------------------------------------------------------------------
def test_exact_probabilities_match_statevector_simulator():
    rng = np.random.default_rng(31)
    circuits = [random_circuit(n, 30, rng) for n in (1, 2, 3, 5)]
    backend = CirqSimulatorBackend()
    assert backend.capabilities.exact_expectations and not backend.capabilities.noisy
    for c, r in zip(circuits, run(backend.execute_batch(circuits)), strict=True):
        assert r.shots is None
        np.testing.assert_allclose(r.probabilities, SV.probabilities(c), atol=EXACT)


def test_shots_are_seeded_and_binomially_close():
    c = random_circuit(3, 25, np.random.default_rng(32))
    backend = CirqSimulatorBackend()
    shots = 4000
    a, b = (run(backend.run(c, shots, seed=5)) for _ in range(2))
    assert a.counts == b.counts and sum(a.counts.values()) == shots
    assert run(backend.run(c, shots, seed=6)).counts != a.counts
    assert within_binomial(a.probabilities, SV.probabilities(c), shots)


@pytest.mark.parametrize("model", ["rich", "aria"])
def test_noisy_run_matches_density_matrix_simulator(model):
    nm = rich_noise() if model == "rich" else NoiseModel.ionq_aria()
    rng = np.random.default_rng(33)
    circuits = [random_circuit(3, 25, rng) for _ in range(3)]
    backend = CirqSimulatorBackend(noise=nm)
    assert backend.capabilities.noisy and backend.capabilities.max_qubits == 12
    dm = DensityMatrixSimulator(nm)
    for c, r in zip(circuits, run(backend.execute_batch(circuits)), strict=True):
        np.testing.assert_allclose(r.probabilities, dm.probabilities(c), atol=NOISY)
    shots = 3000  # readout through Cirq's confusion maps
    r = run(backend.run(circuits[0], shots, seed=3))
    assert within_binomial(r.probabilities, dm.probabilities(circuits[0]), shots)


def test_cirq_noise_model_is_passed_through():
    p = 0.2
    backend = CirqSimulatorBackend(noise=cirq.ConstantQubitNoiseModel(cirq.bit_flip(p)))
    r = run(backend.run(Circuit(2).x(0).i(1)))
    np.testing.assert_allclose(r.probabilities, np.kron([p, 1 - p], [1 - p, p]), atol=EXACT)
    with pytest.raises(ValidationError, match=r"cirq\.NoiseModel"):
        CirqSimulatorBackend(noise="depolarizing")


def test_job_protocol():
    async def main():
        backend = CirqSimulatorBackend()
        circuits = [Circuit(2).x(1), Circuit(2).x(0), Circuit(3).h(0).cnot(0, 2)]
        job = await backend.submit_job_async(circuits, seed=1)
        assert isinstance(job, str)
        result = await backend.get_job_result(job, timeout=30)
        assert await backend.check_job_status(job) is JobStatus.COMPLETED
        assert result.job_id == job and result.backend == "cirq" and len(result) == 3
        np.testing.assert_allclose(result[0].probabilities, [0, 1, 0, 0], atol=EXACT)
        np.testing.assert_allclose(result[1].probabilities, [0, 0, 1, 0], atol=EXACT)
        np.testing.assert_allclose(result[2].probabilities[[0, 5]], [0.5, 0.5], atol=EXACT)
        sampled = await backend.get_job_result(
            await backend.submit_job_async(circuits[:2], shots=10, seed=0))
        assert [r.bitstring_counts() for r in sampled] == [{"01": 10}, {"10": 10}]
        twins = await backend.execute_batch([Circuit(3).h(0).h(1).h(2)] * 2, 200, seed=4)
        assert twins[0].counts != twins[1].counts  # each circuit samples independently
        with pytest.raises(CircuitError, match="unbound"):
            await backend.submit_job_async(Circuit(1).rx(0, theta[0]))
        with pytest.raises(BackendError, match="no job"):
            await backend.get_job_result("nope")
        await backend.close()

    run(main())
    assert repr(CirqSimulatorBackend()) == "CirqSimulatorBackend(name='cirq', noise=None)"
