"""IonQ native-gate compiler: the native gate definitions, FACTS.md's worked examples, every
gate's decomposition and random circuits checked by unitary equivalence up to global phase;
gate counts, merging, virtual Z, SWAP relabelling, target names, speed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import expm

from q_store.backends.cost import count_billed_gates
from q_store.circuit import GATES, Circuit, x
from q_store.compile import (
    NATIVE_GATES,
    CompiledCircuit,
    IonQNativeGateCompiler,
    native_single_qubit,
    parse_target,
)
from q_store.compile.ionq_native import _INTERACTIONS, _TO_CORE
from q_store.compile.passes import native_before_xx, normalize_turns, rz_matrix
from q_store.errors import CircuitError, ConfigError, ValidationError
from q_store.sim import StatevectorSimulator
from tests.reference import random_circuit, reference_unitary

ATOL = 1e-9  # unitary equivalence after compilation
DEF_ATOL = 1e-12  # gate-table definitions
TARGETS = ("aria", "forte")
ANGLES = (0.0, np.pi, -np.pi, 0.5 * np.pi, -1.3, 2.2, 7.5, -9.1)
SIM = StatevectorSimulator()
PX = np.array([[0, 1], [1, 0]], dtype=complex)
PY = np.array([[0, -1j], [1j, 0]], dtype=complex)
PZ = np.diag([1.0, -1.0]).astype(complex)


def assert_equal_up_to_phase(a: np.ndarray, b: np.ndarray, atol: float = ATOL) -> None:
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    phase = a[k] / b[k]
    assert abs(abs(phase) - 1.0) < atol, f"not unitary-equivalent: |phase| = {abs(phase)}"
    np.testing.assert_allclose(a, phase * b, atol=atol)


def compiled_unitary(cc: CompiledCircuit) -> np.ndarray:
    """Unitary of the compiled circuit plus final Z, in the input's wire order."""
    u = SIM.unitary(cc.circuit_with_final_z())
    return cc.restore_probabilities(u.T).T  # reorder the output index of every column


def assert_native(cc: CompiledCircuit) -> None:
    allowed = set(NATIVE_GATES[cc.target])
    for op in cc.circuit.operations:
        assert op.gate in allowed, f"{op.gate} is not native on {cc.target}"
        vals = [float(p) for p in op.params]
        assert all(np.isfinite(vals))
        if op.gate in ("GPI", "GPI2"):
            assert 0.0 <= vals[0] < 1.0
        elif op.gate == "MS":
            assert 0.0 <= vals[0] < 1.0 and 0.0 <= vals[1] < 1.0
            assert 0.0 < vals[2] <= 0.25 + 1e-15
        else:
            assert 0.0 < vals[0] <= 0.25 + 1e-15
    assert all(0.0 <= t < 1.0 for t in cc.final_z_turns)


def check_compiled(c: Circuit, target: str, **kw: object) -> CompiledCircuit:
    cc = IonQNativeGateCompiler(target, **kw).compile(c)
    assert_native(cc)
    u0 = SIM.unitary(c)
    assert_equal_up_to_phase(compiled_unitary(cc), u0)
    # probabilities of every basis input need no final Z, only the relabelling
    p0 = np.abs(u0.T) ** 2
    p1 = cc.restore_probabilities(np.abs(SIM.unitary(cc.circuit).T) ** 2)
    np.testing.assert_allclose(p1, p0, atol=ATOL)
    return cc


# --- the native gates themselves ------------------------------------------------------------


def _facts_gpi(p: float) -> np.ndarray:
    e = np.exp(2j * np.pi * p)
    return np.array([[0, np.conj(e)], [e, 0]])


def _facts_gpi2(p: float) -> np.ndarray:
    e = np.exp(2j * np.pi * p)
    return np.array([[1, -1j * np.conj(e)], [-1j * e, 1]]) / np.sqrt(2)


def _facts_ms(p0: float, p1: float, t: float) -> np.ndarray:
    c, s = np.cos(np.pi * t), np.sin(np.pi * t)
    m = np.eye(4, dtype=complex) * c
    m[0, 3] = -1j * s * np.exp(-2j * np.pi * (p0 + p1))
    m[1, 2] = -1j * s * np.exp(-2j * np.pi * (p0 - p1))
    m[2, 1] = -1j * s * np.exp(2j * np.pi * (p0 - p1))
    m[3, 0] = -1j * s * np.exp(2j * np.pi * (p0 + p1))
    return m


@pytest.mark.parametrize("p", [0.0, 0.25, -0.3, 0.71, 1.4])
def test_native_gate_table_matches_facts(p: float) -> None:
    np.testing.assert_allclose(GATES["GPI"].matrix([p]), _facts_gpi(p), atol=DEF_ATOL)
    np.testing.assert_allclose(GATES["GPI2"].matrix([p]), _facts_gpi2(p), atol=DEF_ATOL)
    ms = _facts_ms(p, 0.13, 0.2)
    np.testing.assert_allclose(GATES["MS"].matrix([p, 0.13, 0.2]), ms, atol=DEF_ATOL)
    np.testing.assert_allclose(SIM.unitary(Circuit(2).ms(0, 1, p, 0.13, 0.2)), ms, atol=DEF_ATOL)
    zz = expm(-1j * np.pi * p * np.kron(PZ, PZ))
    np.testing.assert_allclose(GATES["ZZ"].matrix([p]), zz, atol=DEF_ATOL)


def test_facts_worked_examples() -> None:
    for a in ANGLES:
        rx = Circuit(1).gpi2(0, 0.25).gpi(0, a / (4 * np.pi) - 0.25).gpi2(0, 0.25)
        assert_equal_up_to_phase(SIM.unitary(rx), GATES["RX"].matrix([a]))
        ry = Circuit(1).gpi2(0, 0.5).gpi(0, a / (4 * np.pi)).gpi2(0, 0.5)
        assert_equal_up_to_phase(SIM.unitary(ry), GATES["RY"].matrix([a]))
    cnot = Circuit(2).gpi2(0, 0.25).ms(0, 1, 0, 0, 0.25).gpi2(1, 0.5).gpi2(0, 0.5).gpi2(0, -0.25)
    assert_equal_up_to_phase(SIM.unitary(cnot), GATES["CNOT"].matrix())


@pytest.mark.parametrize("theta", [0.4, -2.0, 7.0])
def test_virtual_z_slides_into_phases(theta: float) -> None:
    """gate(p) . RZ(theta) = RZ(theta) . gate(p - theta / 2pi), MS on each ion."""
    rz = rz_matrix(theta)
    for g in ("GPI", "GPI2"):
        lhs = GATES[g].matrix([0.3]) @ rz
        rhs = rz @ GATES[g].matrix([0.3 - theta / (2 * np.pi)])
        np.testing.assert_allclose(lhs, rhs, atol=DEF_ATOL)
    for rz2, shift in ((np.kron(rz, np.eye(2)), (1, 0)), (np.kron(np.eye(2), rz), (0, 1))):
        t = theta / (2 * np.pi)
        lhs = GATES["MS"].matrix([0.3, 0.6, 0.2]) @ rz2
        rhs = rz2 @ GATES["MS"].matrix([0.3 - shift[0] * t, 0.6 - shift[1] * t, 0.2])
        np.testing.assert_allclose(lhs, rhs, atol=DEF_ATOL)


def test_core_basis_changes_and_interaction_table() -> None:
    paulis = {"X": PX, "Y": PY, "Z": PZ}
    for core, table in _TO_CORE.items():
        for p, m in table.items():
            np.testing.assert_allclose(m @ paulis[p] @ m.conj().T, paulis[core], atol=DEF_ATOL)
    rng = np.random.default_rng(3)
    for name, fn in _INTERACTIONS.items():
        params = tuple(rng.uniform(-3, 3, GATES[name].num_params))
        it = fn(params)
        gen = np.kron(paulis[it.paulis[0]], paulis[it.paulis[1]])

        def loc(pair: tuple) -> np.ndarray:
            return np.kron(*(np.eye(2) if m is None else m for m in pair))

        u = loc(it.after) @ expm(-0.5j * it.theta * gen) @ loc(it.before)
        assert_equal_up_to_phase(u, GATES[name].matrix(np.array(params)), DEF_ATOL * 10)


# --- single-qubit merging -------------------------------------------------------------------


def _haar_2x2(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def _pulses_matrix(pulses: tuple, frame: float) -> np.ndarray:
    m = np.eye(2, dtype=complex)
    for g, p in pulses:
        m = GATES[g].matrix([p]) @ m
    return rz_matrix(frame) @ m


def test_single_qubit_decomposition_of_random_unitaries() -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        u = _haar_2x2(rng)
        pulses, frame = native_single_qubit(u)
        assert [g for g, _ in pulses] == ["GPI2", "GPI2"]  # generic: exactly two
        assert all(0.0 <= p < 1.0 for _, p in pulses)
        assert_equal_up_to_phase(_pulses_matrix(pulses, frame), u, DEF_ATOL * 100)


def test_only_one_gpi2_before_an_ms() -> None:
    """u = deferred . GPI2 where deferred = RX(beta) RZ(frame) passes an XX interaction."""
    rng = np.random.default_rng(9)
    xx = expm(-0.3j * np.kron(PX, PX))
    for u in [_haar_2x2(rng) for _ in range(100)] + [GATES["H"].matrix(), rz_matrix(0.7)]:
        pulses, d, frame = native_before_xx(u)
        assert len(pulses) <= 1
        assert_equal_up_to_phase(d @ _pulses_matrix(pulses, 0.0), u, DEF_ATOL * 100)
        rx = d @ rz_matrix(-frame)  # must be a rotation about X: commutes with X
        np.testing.assert_allclose(rx @ PX, PX @ rx, atol=DEF_ATOL * 100)
        # so d (x) I slides through the XX interaction, leaving its frame in the MS phase
        d2 = np.kron(d, np.eye(2))
        ms = GATES["MS"].matrix([-frame / (2 * np.pi), 0.0, 0.3 / np.pi])
        np.testing.assert_allclose(xx @ d2, d2 @ ms, atol=DEF_ATOL * 100)
    assert native_before_xx(GATES["RX"].matrix([1.1]) @ rz_matrix(0.7))[0] == ()


def _longest_runs(c: Circuit) -> tuple[int, int]:
    """Most one-qubit gates on one wire (inside a run ended by a two-qubit gate, at the end)."""
    run = [0] * c.n_qubits
    inner = 0
    for op in c.operations:
        if len(op.wires) == 1:
            run[op.wires[0]] += 1
            continue
        for w in op.wires:
            inner, run[w] = max(inner, run[w]), 0
    return inner, max(run)


@pytest.mark.parametrize(("target", "inner"), [("aria", 1), ("forte", 2)])
def test_runs_between_two_qubit_gates_are_short(target: str, inner: int) -> None:
    c = random_circuit(4, 60, np.random.default_rng(10))
    cc = check_compiled(c, target)
    longest_inner, longest_last = _longest_runs(cc.circuit)
    assert longest_inner <= inner and longest_last <= 2


@pytest.mark.parametrize(("gate", "params", "expected"), [
    ("I", (), ()), ("Z", (), ()), ("S", (), ()), ("T", (), ()), ("RZ", (1.1,), ()),
    ("PhaseShift", (-0.4,), ()), ("RX", (2 * np.pi,), ()),
    ("X", (), ("GPI",)), ("Y", (), ("GPI",)), ("RX", (np.pi,), ("GPI",)),
    ("GPI", (0.37,), ("GPI",)), ("U3", (np.pi, 0.3, 1.2), ("GPI",)),
    ("H", (), ("GPI2",)), ("SX", (), ("GPI2",)), ("RY", (-0.5 * np.pi,), ("GPI2",)),
    ("GPI2", (0.81,), ("GPI2",)), ("RX", (0.3,), ("GPI2", "GPI2")),
])
def test_cheapest_pulses(gate: str, params: tuple, expected: tuple) -> None:
    u = GATES[gate].matrix(np.array(params))
    pulses, frame = native_single_qubit(u)
    assert tuple(g for g, _ in pulses) == expected
    assert_equal_up_to_phase(_pulses_matrix(pulses, frame), u, DEF_ATOL * 10)


def test_x_and_y_compile_to_gpi_with_textbook_phases() -> None:
    assert native_single_qubit(GATES["X"].matrix()) == ((("GPI", 0.0),), 0.0)
    assert native_single_qubit(GATES["Y"].matrix()) == ((("GPI", 0.25),), 0.0)


@pytest.mark.parametrize("target", TARGETS)
def test_merging_removes_gates(target: str) -> None:
    comp = IonQNativeGateCompiler(target)
    assert len(comp.compile(Circuit(1).h(0).h(0)).circuit) == 0
    cc = check_compiled(Circuit(1).rx(0, 0.3).ry(0, -1.2).rz(0, 2.5).rx(0, 0.7), target)
    assert cc.circuit.count_ops() == {"GPI2": 2} and cc.one_qubit_before == 4
    cc = check_compiled(Circuit(2).x(0).y(0).z(1).t(1).h(1).h(1), target)
    assert len(cc.circuit) == 0  # X Y = iZ, the rest is diagonal: all virtual Z


@pytest.mark.parametrize("target", TARGETS)
def test_final_z_is_recorded_not_emitted(target: str) -> None:
    cc = check_compiled(Circuit(2).rz(0, 0.3).s(1), target)
    assert len(cc.circuit) == 0
    np.testing.assert_allclose(cc.final_z_turns, [0.3 / (2 * np.pi), 0.25], atol=DEF_ATOL)
    assert cc.circuit_with_final_z().count_ops() == {"RZ": 2}


def test_z_rotations_before_ms_become_phases() -> None:
    cc = check_compiled(Circuit(2).rz(0, 0.5 * np.pi).rxx(0, 1, 0.4), "aria")
    assert cc.circuit.count_ops() == {"MS": 1}
    p0, p1, angle = (float(v) for v in cc.circuit.operations[0].params)
    assert (p0, p1) == pytest.approx((0.75, 0.0)) and angle == pytest.approx(0.4 / (2 * np.pi))
    assert cc.final_z_turns == pytest.approx((0.25, 0.0))


def test_native_input_passes_through() -> None:
    cc = check_compiled(Circuit(2).ms(0, 1, 0.1, 0.3, 0.25), "aria")
    assert [(o.gate, tuple(float(p) for p in o.params)) for o in cc.circuit] == [
        ("MS", pytest.approx((0.1, 0.3, 0.25)))]
    assert cc.final_z_turns == (0.0, 0.0)
    cc = check_compiled(Circuit(2).zz(0, 1, 0.1), "forte")
    assert cc.circuit.count_ops() == {"ZZ": 1}
    cc = check_compiled(Circuit(1).gpi(0, 0.2).gpi2(0, 0.7), "aria")
    assert cc.one_qubit_after <= 2


# --- every gate of the table ----------------------------------------------------------------


def _interaction_turns(gate: str, p: tuple) -> float | None:
    """The interaction angle in turns of exp(-i pi t P(x)Q) (None: fixed entangling gate)."""
    return {"RXX": lambda: p[0] / (2 * np.pi), "RYY": lambda: p[0] / (2 * np.pi),
            "RZZ": lambda: p[0] / (2 * np.pi), "CRX": lambda: p[0] / (4 * np.pi),
            "CRY": lambda: p[0] / (4 * np.pi), "CRZ": lambda: p[0] / (4 * np.pi),
            "MS": lambda: p[2], "ZZ": lambda: p[0]}.get(gate, lambda: None)()


def _expected_two_qubit(gate: str, p: tuple) -> int:
    t = _interaction_turns(gate, p)
    if t is None:
        return 1
    return 0 if normalize_turns(t, 0.5, 1e-12) == 0.0 else 1


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("gate", sorted(g for g in GATES if g not in ("SWAP", "Toffoli")))
def test_every_gate_decomposition(gate: str, target: str) -> None:
    spec = GATES[gate]
    rng = np.random.default_rng(5)
    sets = [()] if not spec.num_params else [(a, *rng.uniform(-7, 7, spec.num_params - 1))
                                              for a in ANGLES]
    if gate == "MS":  # the angle is the last parameter, in turns
        sets = [(*rng.uniform(-2, 2, 2), a / np.pi) for a in ANGLES] + [(0.1, 0.2, 0.5)]
    for params in sets:
        wires = (1, 0) if spec.num_wires == 2 else (0,)  # reversed wires: order matters
        c = Circuit(2).append(gate, wires, *params)
        cc = check_compiled(c, target)
        n2 = cc.two_qubit_after
        if spec.num_wires == 2:
            assert n2 == _expected_two_qubit(gate, params), (gate, params, cc.report())
        else:
            assert n2 == 0 and cc.one_qubit_after <= 2
    # a zero-angle rotation compiles to nothing at all
    if spec.num_params and gate not in ("GPI", "GPI2", "U3"):
        zero = (0.3, 0.7, 0.0) if gate == "MS" else (0.0,)
        c = Circuit(2).append(gate, tuple(range(spec.num_wires)), *zero)
        assert len(IonQNativeGateCompiler(target).compile(c).circuit) == 0


@pytest.mark.parametrize("target", TARGETS)
def test_toffoli_uses_six_two_qubit_gates(target: str) -> None:
    for wires in ((0, 1, 2), (2, 0, 1)):
        cc = check_compiled(Circuit(3).h(0).h(1).toffoli(*wires), target)
        assert cc.two_qubit_after == 6 and cc.two_qubit_before == 6


def test_negative_angles_use_phases_or_positive_zz() -> None:
    cc = check_compiled(Circuit(2).rxx(0, 1, -0.8), "aria")
    (op,) = cc.circuit.operations
    assert float(op.params[2]) == pytest.approx(0.8 / (2 * np.pi))
    assert float(op.params[0]) == pytest.approx(0.5)
    cc = check_compiled(Circuit(2).h(0).rzz(0, 1, -0.8).h(0), "forte")
    assert cc.circuit.count_ops()["ZZ"] == 1
    # a full negative turn is +1/4 turn and virtual Z: CZ on Forte is one ZZ and nothing else
    cc = check_compiled(Circuit(2).cz(0, 1), "forte")
    assert [(o.gate, float(o.params[0])) for o in cc.circuit] == [("ZZ", 0.25)]
    cc = check_compiled(Circuit(2).cnot(0, 1), "forte")
    assert cc.circuit.count_ops()["ZZ"] == 1 and cc.one_qubit_after == 2


# --- SWAP relabelling -----------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
def test_swap_is_relabelled(target: str) -> None:
    c = Circuit(3).x(0).swap(0, 2).cnot(2, 1)  # the X ends on wire 2 and controls wire 1
    cc = check_compiled(c, target)
    assert cc.output_permutation == (2, 1, 0) and cc.is_permuted
    assert cc.two_qubit_before == 2 and cc.two_qubit_after == 1
    p_compiled = SIM.probabilities(cc.circuit)
    assert p_compiled[0b110] == pytest.approx(1.0)  # wires 0, 1 set on the hardware
    restored = cc.restore_probabilities(p_compiled)
    assert restored[0b011] == pytest.approx(1.0)  # wires 1, 2 set, as in the input
    np.testing.assert_allclose(restored, SIM.probabilities(c), atol=ATOL)
    batch = cc.restore_probabilities(np.stack([p_compiled, p_compiled]))
    np.testing.assert_allclose(batch[1], restored, atol=0)


@pytest.mark.parametrize("target", TARGETS)
def test_swap_as_gates_when_relabelling_is_off(target: str) -> None:
    c = Circuit(2).ry(0, 0.4).swap(0, 1).rx(1, 0.2)
    cc = check_compiled(c, target, relabel_swaps=False)
    assert cc.output_permutation == (0, 1) and cc.two_qubit_after == 3
    # compile_circuit returns no permutation, so it never relabels
    native = IonQNativeGateCompiler(target).compile_circuit(c)
    assert native == cc.circuit
    np.testing.assert_allclose(SIM.probabilities(native), SIM.probabilities(c), atol=ATOL)


def test_restore_probabilities_checks_shape() -> None:
    cc = IonQNativeGateCompiler().compile(Circuit(2).swap(0, 1))
    with pytest.raises(ValidationError, match=r"\(\.\.\., 4\)"):
        cc.restore_probabilities(np.ones(8))


# --- random circuits ------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("seed", range(12))
def test_random_bound_circuits(target: str, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = 2 + seed % 4
    body = random_circuit(n, 25, rng, symbolic=True)
    enc = Circuit(n)
    for w in range(n):
        enc = enc.ry(w, 0.9 * x[w] + 0.1)
    template = enc + body
    c = template.bind(rng.uniform(-4, 4, template.n_weights), rng.uniform(-4, 4, n))
    cc = check_compiled(c, target, relabel_swaps=bool(seed % 3))
    assert (cc.one_qubit_before, cc.two_qubit_before) == count_billed_gates(c)
    assert (cc.one_qubit_after, cc.two_qubit_after) == count_billed_gates(cc.circuit)
    swaps = 0 if seed % 3 else c.count_ops().get("SWAP", 0)
    assert cc.two_qubit_after <= cc.two_qubit_before + 2 * swaps
    assert cc.gate_counts_before == c.count_ops()


def test_random_circuit_against_dense_reference() -> None:
    c = random_circuit(4, 40, np.random.default_rng(7))
    for target in TARGETS:
        cc = IonQNativeGateCompiler(target).compile(c)
        u = reference_unitary(cc.circuit_with_final_z())
        assert_equal_up_to_phase(cc.restore_probabilities(u.T).T, reference_unitary(c))


@pytest.mark.parametrize("target", TARGETS)
def test_compiled_circuit_survives_ionq_json(target: str) -> None:
    """The compiled circuit is a valid IonQ native-gateset job and means the same thing."""
    from q_store.backends.ionq.serialize import circuit_from_ionq, circuit_to_ionq

    c = random_circuit(3, 30, np.random.default_rng(11))
    cc = IonQNativeGateCompiler(target).compile(c)
    gateset, gates = circuit_to_ionq(cc.circuit)
    assert gateset == "native"
    assert {g["gate"] for g in gates} <= {"gpi", "gpi2", "ms" if target == "aria" else "zz"}
    back = circuit_from_ionq(3, gates, gateset)
    np.testing.assert_allclose(SIM.unitary(back), SIM.unitary(cc.circuit), atol=DEF_ATOL)


# --- API ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), [
    ("aria", "aria"), ("Forte", "forte"), ("qpu.aria-1", "aria"), ("qpu.aria-2", "aria"),
    ("qpu.forte-1", "forte"), ("qpu.forte-enterprise-1", "forte")])
def test_target_names(name: str, expected: str) -> None:
    assert parse_target(name) == expected
    assert IonQNativeGateCompiler(name).native_gates == NATIVE_GATES[expected]


@pytest.mark.parametrize("name", ["simulator", "harmony", "qpu.harmony", "aria1", "", 3])
def test_unknown_target_is_rejected(name: object) -> None:
    with pytest.raises(ConfigError, match="allowed: 'aria', 'forte'"):
        IonQNativeGateCompiler(name)  # type: ignore[arg-type]


def test_unbound_symbols_are_rejected() -> None:
    from q_store.circuit import theta

    with pytest.raises(CircuitError, match=r"unbound symbols \(theta\[0\]\).*bind"):
        IonQNativeGateCompiler().compile(Circuit(1).rx(0, theta[0]))
    with pytest.raises(CircuitError, match="expected a q_store Circuit"):
        IonQNativeGateCompiler().compile("rx 0")  # type: ignore[arg-type]


def test_report_and_convenience() -> None:
    c = Circuit(2).h(0).cnot(0, 1)
    comp = IonQNativeGateCompiler("aria")
    cc = comp.compile(c)
    assert comp.compile_circuit(c) == cc.circuit
    assert cc.stats == {"one_qubit_before": 1, "one_qubit_after": cc.one_qubit_after,
                        "two_qubit_before": 1, "two_qubit_after": 1}
    assert "2q 1 -> 1" in cc.report() and "aria" in repr(comp)


def test_compiles_500_gates_on_10_qubits() -> None:
    """A 510-gate circuit on 10 qubits: one MS per CNOT, the unitary kept (speed belongs in a
    benchmark, not here: no wall-time bound on a shared machine)."""
    b = Circuit.builder(10)
    rng = np.random.default_rng(8)
    for _ in range(17):  # 17 layers of 30 gates
        for w in range(10):
            b.ry(w, float(rng.normal())).rz(w, float(rng.normal()))
        for w in range(10):
            b.cnot(w, (w + 1) % 10)
    c = b.build()
    assert len(c) == 510
    cc = IonQNativeGateCompiler("aria").compile(c)
    assert cc.circuit.count_ops().get("MS", 0) == 170
    sim = StatevectorSimulator()
    np.testing.assert_allclose(np.abs(sim.state(cc.circuit)) ** 2,
                               np.abs(sim.state(c)) ** 2, atol=1e-10)
    assert cc.two_qubit_after == cc.two_qubit_before
