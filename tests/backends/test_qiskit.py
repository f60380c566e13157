"""Qiskit converters and the Qiskit Aer backend against our simulators."""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("qiskit_aer")

from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import U1Gate, U3Gate
from qiskit.quantum_info import Operator
from qiskit_aer import AerSimulator
from qiskit_aer import noise as aer_noise

from q_store.backends.base import JobStatus
from q_store.backends.qiskit import (
    QiskitAerBackend,
    from_qiskit,
    reverse_qubits,
    to_aer_noise_model,
    to_qiskit,
)
from q_store.circuit import GATES, Circuit, theta, x
from q_store.circuit.expr import Func
from q_store.errors import BackendError, CircuitError
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

EXACT = 1e-10  # converters and exact probabilities
NOISY = 1e-9  # noisy exact probabilities against our density-matrix simulator
SV = StatevectorSimulator()


def run(coro):
    return asyncio.run(coro)


def theirs(qc: QuantumCircuit) -> np.ndarray:
    """Qiskit's unitary in our big-endian wire order."""
    return reverse_qubits(Operator(qc).data)


def within_binomial(freq: np.ndarray, p: np.ndarray, shots: int) -> bool:
    return bool(np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-12))


def rich_noise() -> NoiseModel:
    """Depolarizing, amplitude damping (one qubit only: local Aer errors), dephasing after
    one-qubit gates, readout errors differing per qubit."""
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
    rng = np.random.default_rng(n)
    for _ in range(4):
        c = random_circuit(n, 30, rng)
        qc = to_qiskit(c)
        assert qc.num_qubits == n and qc.size() == len(c)
        np.testing.assert_allclose(theirs(qc), SV.unitary(c), atol=EXACT)
        assert from_qiskit(qc) == c  # gate for gate, angles bit for bit


@pytest.mark.parametrize("name", ["GPI", "GPI2", "MS", "ZZ"])
def test_native_gate_matrix_and_definition_agree(name):
    rng = np.random.default_rng(3)
    spec = GATES[name]
    for _ in range(3):
        params = rng.uniform(-1, 1, spec.num_params)
        c = Circuit(spec.num_wires).append(name, tuple(range(spec.num_wires)), *params)
        gate = to_qiskit(c).data[0].operation
        assert gate.name == name.lower()
        ours = SV.unitary(c)
        np.testing.assert_allclose(reverse_qubits(np.asarray(gate)), ours, atol=EXACT)
        np.testing.assert_allclose(theirs(gate.definition), ours, atol=EXACT)
        assert from_qiskit(pickle.loads(pickle.dumps(to_qiskit(c)))) == c


def test_import_of_standard_gates_keeps_global_phase():
    qc = QuantumCircuit(3, 3, global_phase=0.7)
    qc.id(0)
    qc.h(0)
    qc.sx(1)
    qc.p(0.3, 2)
    qc.u(0.1, 0.2, 0.3, 1)
    qc.append(U1Gate(0.4), [0])
    qc.append(U3Gate(0.5, 0.6, 0.7), [2])
    qc.cp(0.9, 2, 0)
    qc.cx(0, 1)
    qc.crz(1.1, 1, 2)
    qc.rzz(0.2, 0, 2)
    qc.ccx(2, 0, 1)
    qc.barrier()
    unitary_part = qc.copy()
    qc.measure([0, 1, 2], [0, 1, 2])
    c = from_qiskit(qc)
    assert c.n_qubits == 3
    np.testing.assert_allclose(SV.unitary(c), theirs(unitary_part), atol=EXACT)


def test_symbolic_circuits_use_parameter_vectors():
    rng = np.random.default_rng(9)
    c = (random_circuit(3, 20, rng, symbolic=True)
         .rx(0, Func("sin", 2 * x[0]) - theta[1] ** 2)
         .gpi(1, Func("arctan", x[1]) / 3)
         .ms(0, 2, theta[0], 0.1 * x[0], 0.25))
    qc = to_qiskit(c)
    assert {p.name for p in qc.parameters} == {f"theta[{i}]" for i in range(c.n_weights)} | {
        "x[0]", "x[1]"}
    w, xs = rng.normal(size=c.n_weights), rng.uniform(0.2, 0.9, size=2)
    values = dict(zip(qc.parameters, [*w, *xs], strict=True))  # sorted: theta then x
    np.testing.assert_allclose(theirs(qc.assign_parameters(values)), SV.unitary(c, w, xs),
                               atol=EXACT)
    back = from_qiskit(qc)
    assert (back.n_weights, back.n_inputs) == (c.n_weights, c.n_inputs)
    np.testing.assert_allclose(SV.unitary(back, w, xs), SV.unitary(c, w, xs), atol=EXACT)


def test_import_rejects_what_it_cannot_represent():
    qc = QuantumCircuit(2)
    qc.ch(0, 1)
    with pytest.raises(CircuitError, match="'ch'"):
        from_qiskit(qc)
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    qc.x(0)
    with pytest.raises(CircuitError, match="follows a measurement"):
        from_qiskit(qc)
    qc = QuantumCircuit(1)
    qc.rx(Parameter("alpha"), 0)
    with pytest.raises(CircuitError, match=r"'alpha'.*ParameterVector"):
        from_qiskit(qc)
    qc = QuantumCircuit(1)
    qc.rx(ParameterVector("theta", 1)[0], 0)
    assert from_qiskit(qc) == Circuit(1).rx(0, theta[0])


def test_missing_qiskit_names_the_pip_extra():
    code = ("import sys\n"
            "for m in ('qiskit', 'qiskit_aer', 'cirq'): sys.modules[m] = None\n"
            "import q_store, q_store.backends.qiskit as q\n"
            "from q_store.circuit import Circuit\n"
            "from q_store.errors import NotSupportedError\n"
            "for f in (lambda: q.to_qiskit(Circuit(1).x(0)), q.QiskitAerBackend):\n"
            "    try:\n"
            "        f()\n"
            "    except NotSupportedError as e:\n"
            "        print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.count('pip install "q-store[qiskit]"') == 2


# -- noise conversion ----------------------------------------------------------------------------
def test_noise_model_conversion_matches_hand_built_aer_model():
    """Our model's meaning written out by hand in Aer's terms: errors compose in the order
    added, a one-qubit channel hits every wire of a gate, a local error only its qubit."""
    one = ("X", "H", "RY", "PhaseShift", "U3")
    nm = (NoiseModel()
          .add_gate_error(depolarizing(0.02), gates=one)
          .add_gate_error(depolarizing(0.05, 2))
          .add_gate_error(amplitude_damping(0.04))
          .add_gate_error(phase_damping(0.3), qubits=2)
          .add_readout_error(ReadoutError(0.2, 0.05)))
    amp, dep1 = aer_noise.amplitude_damping_error(0.04), aer_noise.depolarizing_error(0.02, 1)
    dph = aer_noise.phase_damping_error(0.3)
    hand = aer_noise.NoiseModel()
    for q in range(3):
        local = dph if q == 2 else None
        for g in ("x", "h", "ry", "p", "u"):
            err = dep1.compose(amp)
            hand.add_quantum_error(err if local is None else err.compose(local), g, [q])
        for r in range(3):
            if r != q:  # error qubit 0 is the gate's first wire
                err = aer_noise.depolarizing_error(0.05, 2).compose(amp.tensor(amp))
                if 2 in (q, r):
                    err = err.compose(dph, qargs=[(q, r).index(2)])
                hand.add_quantum_error(err, ["cx", "rzz"], [q, r])
    converted = to_aer_noise_model(nm, 3)
    assert "measure" in converted.noise_instructions
    rng = np.random.default_rng(15)
    gates = ("X", "H", "RY", "PhaseShift", "U3", "CNOT", "RZZ")
    for _ in range(3):
        qc = to_qiskit(random_circuit(3, 30, rng, gates=gates))
        qc.save_density_matrix()
        rho = [np.asarray(AerSimulator(method="density_matrix", noise_model=m).run(qc)
                          .result().data()["density_matrix"]) for m in (converted, hand)]
        np.testing.assert_allclose(rho[0], rho[1], atol=1e-12)


# -- the backend ---------------------------------------------------------------------------------
def test_exact_probabilities_match_statevector_simulator():
    rng = np.random.default_rng(11)
    circuits = [random_circuit(n, 30, rng) for n in (1, 2, 3, 5, 5)]
    backend = QiskitAerBackend()
    results = run(backend.execute_batch(circuits))
    assert [r.shots for r in results] == [None] * 5
    for c, r in zip(circuits, results, strict=True):
        np.testing.assert_allclose(r.probabilities, SV.probabilities(c), atol=EXACT)


def test_shots_are_seeded_and_binomially_close():
    c = random_circuit(3, 25, np.random.default_rng(12))
    backend = QiskitAerBackend()
    shots = 4000
    a, b = (run(backend.run(c, shots, seed=7)) for _ in range(2))
    assert a.counts == b.counts and sum(a.counts.values()) == shots
    assert run(backend.run(c, shots, seed=8)).counts != a.counts
    assert within_binomial(a.probabilities, SV.probabilities(c), shots)


@pytest.mark.parametrize("model", ["rich", "aria"])
def test_noisy_run_matches_density_matrix_simulator(model):
    nm = rich_noise() if model == "rich" else NoiseModel.ionq_aria()
    rng = np.random.default_rng(13)
    circuits = [random_circuit(3, 25, rng) for _ in range(3)]
    backend = QiskitAerBackend(noise_model=nm)
    caps = backend.capabilities
    assert caps.noisy and caps.exact_expectations and caps.max_qubits == 15
    dm = DensityMatrixSimulator(nm)
    for c, r in zip(circuits, run(backend.execute_batch(circuits)), strict=True):
        np.testing.assert_allclose(r.probabilities, dm.probabilities(c), atol=NOISY)
    # sampled: Aer's own readout errors and noise
    shots = 4000
    r = run(backend.run(circuits[0], shots, seed=1))
    assert within_binomial(r.probabilities, dm.probabilities(circuits[0]), shots)


def test_aer_noise_model_is_passed_through():
    p = 0.3
    nm = aer_noise.NoiseModel()
    nm.add_all_qubit_quantum_error(aer_noise.depolarizing_error(p, 1), "x")
    backend = QiskitAerBackend(noise_model=nm)
    r = run(backend.run(Circuit(2).x(0).h(1)))
    np.testing.assert_allclose(r.probabilities, np.kron([p / 2, 1 - p / 2], [0.5, 0.5]),
                               atol=EXACT)
    nm.add_all_qubit_readout_error(aer_noise.ReadoutError([[0.9, 0.1], [0.1, 0.9]]))
    sampled_only = QiskitAerBackend(noise_model=nm)
    assert not sampled_only.capabilities.exact_expectations
    with pytest.raises(BackendError, match="pass shots"):
        run(sampled_only.run(Circuit(1).x(0)))


def test_options_pass_through_to_aer():
    c = random_circuit(3, 30, np.random.default_rng(14))
    single = QiskitAerBackend(method="density_matrix", precision="single")
    assert single.simulator.options.method == "density_matrix"
    assert single.capabilities.max_qubits == 15
    err = np.abs(run(single.run(c)).probabilities - SV.probabilities(c)).max()
    assert 1e-12 < err < 1e-5  # single precision reached the simulator
    with pytest.raises(BackendError, match='"stabilizer" method'):
        run(QiskitAerBackend(method="stabilizer").run(c))
    with pytest.raises(BackendError, match="device 'bogus'"):
        QiskitAerBackend(device="bogus")
    with pytest.raises(BackendError, match="bogus_option"):
        QiskitAerBackend(bogus_option=1)
    with pytest.raises(BackendError, match="allowed"):
        QiskitAerBackend(method="unitary")
    assert not QiskitAerBackend(method="extended_stabilizer").capabilities.exact_expectations
    noisy_sv = QiskitAerBackend(method="statevector", noise_model=NoiseModel.ionq_aria())
    assert not noisy_sv.capabilities.exact_expectations  # noise by trajectories only samples
    r = run(noisy_sv.run(Circuit(1).x(0), shots=200, seed=2))
    assert sum(r.counts.values()) == 200


def test_job_protocol():
    async def main():
        backend = QiskitAerBackend()
        circuits = [Circuit(2).x(1), Circuit(2).x(0), Circuit(3).h(0).cnot(0, 2)]
        job = await backend.submit_job_async(circuits)
        assert isinstance(job, str)
        result = await backend.get_job_result(job, timeout=30)
        assert await backend.check_job_status(job) is JobStatus.COMPLETED
        assert result.job_id == job and result.backend == "qiskit_aer" and len(result) == 3
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
            await backend.check_job_status("nope")
        await backend.close()

    run(main())
    assert repr(QiskitAerBackend()) == ("QiskitAerBackend(name='qiskit_aer', method='automatic', "
                                        "noise_model=None)")
