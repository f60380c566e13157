"""OpenQASM export/import: round trips, Qiskit loads our files with the same unitary, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest

from q_store.circuit import GATES, Circuit, Func, theta, x
from q_store.circuit.qasm import from_qasm, to_qasm
from q_store.errors import CircuitError, QASMError
from tests.reference import random_circuit, reference_unitary

ATOL = 1e-10
ALL_GATES = tuple(sorted(GATES))


def _random(seed: int, symbolic: bool, n_qubits: int = 3, n_ops: int = 60) -> Circuit:
    return random_circuit(n_qubits, n_ops, np.random.default_rng(seed), symbolic=symbolic)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_qasm3_symbolic_round_trip(seed: int) -> None:
    c = _random(seed, symbolic=True)
    text = to_qasm(c, 3)
    assert text.startswith('OPENQASM 3.0;\ninclude "stdgates.inc";\n')
    assert f"input array[float[64], {c.n_weights}] theta;" in text
    back = from_qasm(text)
    assert back == c
    assert to_qasm(back, 3) == text


def test_random_circuits_cover_the_gate_table() -> None:
    used = set()
    for seed in range(5):
        used |= set(_random(seed, symbolic=True).count_ops())
    assert used == set(ALL_GATES)


@pytest.mark.parametrize("seed", range(5))
def test_qasm2_bound_round_trip(seed: int) -> None:
    c = _random(seed, symbolic=False)
    text = to_qasm(c, 2)
    assert text.startswith('OPENQASM 2.0;\ninclude "qelib1.inc";\n')
    assert from_qasm(text) == c


def test_every_gate_round_trips_alone() -> None:
    for name in ALL_GATES:
        spec = GATES[name]
        params = [0.5 * theta[k] - 0.25 for k in range(spec.num_params)]
        c = Circuit(3).append(name, tuple(range(spec.num_wires))[::-1], *params)
        assert from_qasm(to_qasm(c, 3)) == c, name
        bound = c.bind(np.arange(c.n_weights, dtype=float))
        assert from_qasm(to_qasm(bound, 2)) == bound, name


@pytest.mark.parametrize(
    "angle",
    [
        theta[0], -theta[1], 0.7 * theta[0] + 0.1, 0.7 * theta[0] - 0.1, np.pi * x[0],
        -0.5 * theta[1] * x[0], theta[0] * x[0] * theta[1], (theta[0] * theta[1]) * (2 * x[0]),
        Func("sin", theta[0]) ** 2, 1 / (theta[0] + 1), Func("log", 3 * x[0]) - theta[1],
        -(theta[0] + x[0]), theta[0] - (x[0] - theta[1]), (theta[0] + 1) * (x[0] - 2),
        Func("arctan", theta[0] / 3), Func("sqrt", 1 - theta[0] ** 2), theta[0] ** -1.5,
        1e-5 * theta[0] - 1e20, Func("tan", theta[0] * x[0]).diff(theta[0]),
        Func("arccos", x[0]).diff(x[0]), Func("exp", -theta[0]), 0.1 + 0.2,
    ],
    ids=str,
)
def test_expressions_round_trip_exactly(angle: object) -> None:
    c = Circuit(1).rx(0, angle)
    assert from_qasm(to_qasm(c, 3)) == c


def test_qasm3_declares_unused_inputs_and_log_is_log() -> None:
    c = Circuit(2, Circuit(2).ry(0, Func("log", x[1])).operations, n_weights=4)
    text = to_qasm(c, 3)
    assert "input array[float[64], 4] theta;" in text
    assert "input array[float[64], 2] x;" in text
    assert "ry(log(x[1])) q[0];" in text
    back = from_qasm(text)
    assert (back.n_weights, back.n_inputs) == (4, 2)
    assert back == c


def test_common_forms_are_printed_plainly() -> None:
    c = Circuit(1).rx(0, 2.0 * theta[0] + 0.5).ry(0, theta[1]).rz(0, np.pi * x[0]).rx(0, -0.25)
    lines = to_qasm(c, 3).splitlines()[-4:]
    assert lines == [
        "rx(2.0*theta[0] + 0.5) q[0];",
        "ry(theta[1]) q[0];",
        "rz(3.141592653589793*x[0]) q[0];",
        "rx(-0.25) q[0];",
    ]


def test_qasm2_needs_numbers() -> None:
    c = Circuit(1).rx(0, theta[0]).ry(0, x[0])
    with pytest.raises(CircuitError, match="bind"):
        to_qasm(c, 2)
    text = to_qasm(c, 2, weights=[0.5], inputs=[0.25])
    assert text.splitlines()[-2:] == ["rx(0.5) q[0];", "ry(0.25) q[0];"]
    with pytest.raises(QASMError, match="version"):
        to_qasm(c, 4)


def test_qasm2_writes_phase_and_u3_with_qelib1_names() -> None:
    text = to_qasm(Circuit(1).phase(0, 0.5).u3(0, 0.1, 0.2, 0.3), 2)
    assert text.splitlines()[-2:] == ["u1(0.5) q[0];", "u3(0.1, 0.2, 0.3) q[0];"]
    text3 = to_qasm(Circuit(1).phase(0, 0.5).u3(0, 0.1, 0.2, 0.3), 3)
    assert text3.splitlines()[-2:] == ["p(0.5) q[0];", "U(0.1, 0.2, 0.3) q[0];"]


# --- Qiskit loads what we write, with our unitary ---------------------------------------------

qasm2 = pytest.importorskip("qiskit.qasm2")
qi = pytest.importorskip("qiskit.quantum_info")


def _qiskit_unitary(qc: object) -> np.ndarray:
    return qi.Operator(qc.reverse_bits()).data  # Qiskit is little-endian


@pytest.mark.parametrize("seed", range(4))
def test_qiskit_qasm2_unitary(seed: int) -> None:
    c = _random(seed, symbolic=True)
    w = np.random.default_rng(seed + 100).normal(size=c.n_weights)
    text = to_qasm(c, 2, weights=w)
    expect = reference_unitary(c, w)
    np.testing.assert_allclose(_qiskit_unitary(qasm2.loads(text)), expect, atol=ATOL)
    legacy = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    np.testing.assert_allclose(_qiskit_unitary(legacy), expect, atol=ATOL)


@pytest.mark.parametrize("seed", range(4))
def test_qiskit_qasm3_unitary(seed: int) -> None:
    qasm3 = pytest.importorskip("qiskit.qasm3")
    pytest.importorskip("qiskit_qasm3_import")
    c = _random(seed, symbolic=True)
    w = np.random.default_rng(seed + 200).normal(size=c.n_weights)
    text = to_qasm(c, 3, weights=w)
    np.testing.assert_allclose(_qiskit_unitary(qasm3.loads(text)), reference_unitary(c, w),
                               atol=ATOL)


@pytest.mark.parametrize("name", ALL_GATES)
def test_qiskit_single_gate_definitions(name: str) -> None:
    spec = GATES[name]
    rng = np.random.default_rng(7)
    c = Circuit(3).append(name, tuple(range(3))[-spec.num_wires:][::-1],
                          *rng.uniform(-2, 2, spec.num_params))
    for version in (2, 3):
        text = to_qasm(c, version)
        qc = qasm2.loads(text) if version == 2 else pytest.importorskip("qiskit.qasm3").loads(text)
        np.testing.assert_allclose(_qiskit_unitary(qc), reference_unitary(c), atol=ATOL)


def test_prelude_gates_match_qiskit() -> None:
    text = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
u2(0.3, -0.4) q[0];
cy q[0], q[1];
ch q[1], q[2];
cu1(0.7) q[2], q[0];
cswap q[0], q[1], q[2];
"""
    c = from_qasm(text)
    assert set(c.count_ops()) <= set(GATES)
    qc = qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    np.testing.assert_allclose(reference_unitary(c), _qiskit_unitary(qc), atol=ATOL)


@pytest.mark.parametrize("version", [2, 3])
def test_import_qiskit_dumps(version: int) -> None:
    qasm3 = pytest.importorskip("qiskit.qasm3")
    pytest.importorskip("qiskit_qasm3_import")
    mod = qasm2 if version == 2 else qasm3
    gates = tuple(g for g in GATES if g not in ("GPI", "GPI2", "MS", "ZZ"))
    c = random_circuit(3, 60, np.random.default_rng(5), gates=gates)
    back = from_qasm(mod.dumps(mod.loads(to_qasm(c, version))))
    np.testing.assert_allclose(reference_unitary(back), reference_unitary(c), atol=ATOL)


# --- hand-written programs -------------------------------------------------------------------


def test_import_qasm2_with_user_gate() -> None:
    text = """OPENQASM 2.0;
include "qelib1.inc";
// two registers, flattened in declaration order
qreg a[2];
qreg b[1];
creg c[3];
gate mygate(alpha, beta) p, r {
  rx(alpha/2) p;
  cx p, r;  // a comment
  ry(-beta^2 + pi) r;
}
h a;
mygate(0.3, 0.5) a[1], b[0];
barrier a, b;
measure a[0] -> c[0];
measure a[1] -> c[1];
measure b[0] -> c[2];
"""
    c = from_qasm(text)
    expect = Circuit(3).h(0).h(1).rx(1, 0.15).cnot(1, 2).ry(2, -(0.5**2) + np.pi)
    assert c == expect
    qc = qasm2.loads(text)
    qc.remove_final_measurements()
    np.testing.assert_allclose(reference_unitary(c), _qiskit_unitary(qc), atol=ATOL)


def test_import_qasm3_with_inputs_and_functions() -> None:
    text = """OPENQASM 3;
include "stdgates.inc";
input array[float[64], 2] theta;
input array[float[64], 1] x;
qubit[2] q;  /* a block
comment */ bit[2] c;
rx(π*x[0]) q[0];
ry(theta[0]**2 - 2*theta[1]) q[1];
rz(ln(theta[0]) + asin(0.5) + cos(pi/3)) q[1];
cx q[0], q[1];
c = measure q;
"""
    c = from_qasm(text)
    assert (c.n_qubits, c.n_weights, c.n_inputs) == (2, 2, 1)
    assert c.operations[0].params[0] == np.pi * x[0]
    assert c.operations[1].params[0] == theta[0] ** 2 - 2 * theta[1]
    w, xv = np.array([0.7, -0.2]), np.array([0.4])
    rz = c.bind(w, xv).operations[2].params[0]
    assert float(rz) == pytest.approx(np.log(0.7) + np.arcsin(0.5) + 0.5, abs=1e-14)


def test_user_definition_of_a_native_name_maps_to_native_gate() -> None:
    text = """OPENQASM 3.0;
gate gpi2(p) a { rz(-2*pi*p) a; rx(pi/2) a; rz(2*pi*p) a; }
gate ms(p0, p1) a, b { cx a, b; }
qubit[2] q;
gpi2(0.25) q[0];
ms(0.1, 0.2) q[0], q[1];
"""
    c = from_qasm(text)  # gpi2 is ours; a 2-parameter "ms" is not, so it is expanded
    assert c == Circuit(2).gpi2(0, 0.25).cnot(0, 1)


def test_broadcast_over_registers() -> None:
    c = from_qasm("OPENQASM 2.0;\nqreg a[2];\nqreg b[2];\ncx a, b;\nrz(0.5) a;\nh b[1];\n")
    assert c == Circuit(4).cnot(0, 2).cnot(1, 3).rz(0, 0.5).rz(1, 0.5).h(3)


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        ("OPENQASM 2.0;\nqreg q[1];\nfoo q[0];", 3, "unknown gate 'foo'"),
        ("OPENQASM 2.0;\nqreg q[1];\nh q[3];", 3, "index 3 out of range"),
        ("OPENQASM 2.0;\nqreg q[1];\nh r[0];", 3, "undefined quantum register 'r'"),
        ("OPENQASM 2.0;\nqreg q[1];\n\nrx(0.1, 0.2) q[0];", 4, "takes 1 parameter"),
        ("OPENQASM 2.0;\nqreg q[2];\ncx q[0];", 3, "acts on 2 qubit"),
        ("OPENQASM 2.0;\nqreg q[2];\n@@@ ;", 3, "expected a statement"),
        ("OPENQASM 2.0;\nqreg q[2];\nh q[0] q[1];", 3, "expected ';'"),
        ("OPENQASM 2.0;\nqreg q[2];\nh q[0];\n$", 4, "unexpected character"),
        ("OPENQASM 2.0;\nqreg q[2];\ncx q[0], q[0];", 3, "distinct"),
        ("OPENQASM 3.0;\nqubit[2] q;\nrx(theta[0]) q[0];", 3, "not a declared input"),
        ("OPENQASM 3.0;\ninput array[float[64], 1] theta;\nqubit q;\nrx(theta[1]) q;", 4,
         "out of range"),
        ("OPENQASM 3.0;\nqubit[2] q;\nbit[2] c;\nc[0] = measure q[0];\nx q[0];", 5,
         "after measurement"),
        ("OPENQASM 3.0;\nqubit[2] q;\nreset q[0];", 3, "unsupported statement 'reset'"),
        ("OPENQASM 4.0;\nqubit[2] q;", 1, "version"),
        ("OPENQASM 2.0;\nqreg q[2];\ngate g a {\n h a;", 3, "not closed"),
        ("OPENQASM 2.0;\nqreg q[2];\ngate g(t) a {\n rx(s) a; }", 4, "undefined name 's'"),
        ("OPENQASM 2.0;\nqreg q[2];\ngate g a {\n h b; }", 4, "not a qubit argument"),
        ("OPENQASM 2.0;\nqreg q[2];\nrx(1/0) q[0];", 3, "invalid expression"),
        ("OPENQASM 2.0;\nqreg q[2];\nrx(1", 3, "expected ')'"),
        ("OPENQASM 2.0;\nqreg q[2];\nqreg q[1];", 3, "already declared"),
    ],
)
def test_errors_name_the_line(text: str, line: int, match: str) -> None:
    with pytest.raises(QASMError, match=re.escape(match)) as info:
        from_qasm(text)
    assert f"line {line}:" in str(info.value)


def test_program_without_qubits() -> None:
    with pytest.raises(QASMError, match="no qubits"):
        from_qasm('OPENQASM 2.0;\ninclude "qelib1.inc";\n')


def test_circuit_methods_delegate() -> None:
    c = Circuit(2).h(0).cnot(0, 1).ry(1, theta[0])
    assert Circuit.from_qasm(c.to_qasm()) == c
    assert c.to_qasm() == to_qasm(c, 3)
