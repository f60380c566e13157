"""Builder boundary: every gate method refuses a bad wire with a CircuitError that names the
gate, the bad value and the allowed range; complex angles and weights are refused, never
silently truncated to their real part."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from q_store.circuit import GATES, Circuit, theta, x
from q_store.circuit.ir import _GateMethods
from q_store.errors import BindingError, CircuitError, ValidationError
from q_store.sim import StatevectorSimulator

_WIRE_ARGS = {"w", "a", "b", "control", "target", "c0", "c1"}
N = 3


def _gate_methods() -> list[str]:
    return sorted(name for name, fn in vars(_GateMethods).items()
                  if callable(fn) and not name.startswith("_") and name != "append")


def _call(builder: object, name: str, bad_index: int | None, bad: object) -> object:
    sig = inspect.signature(getattr(_GateMethods, name))
    args, k = [], 0
    for p in list(sig.parameters.values())[1:]:
        if p.name in _WIRE_ARGS:
            args.append(bad if k == bad_index else k)
            k += 1
        elif p.default is inspect.Parameter.empty:
            args.append(0.1)
    return getattr(builder, name)(*args)


def test_the_method_list_covers_every_gate() -> None:
    appended = set()
    for name in _gate_methods():
        appended |= {op.gate for op in _call(Circuit(N), name, None, None).operations}
    assert appended == set(GATES)


@pytest.mark.parametrize("name", _gate_methods())
@pytest.mark.parametrize("make", [lambda: Circuit(N), lambda: Circuit.builder(N)],
                         ids=["circuit", "builder"])
@pytest.mark.parametrize("bad", [0.5, "0", None, True, [0], np.array(1)],
                         ids=["float", "str", "none", "bool", "list", "array0d"])
def test_every_builder_method_refuses_a_non_integer_wire(name, make, bad) -> None:
    n_wires = sum(p in _WIRE_ARGS for p in inspect.signature(getattr(_GateMethods, name))
                  .parameters)
    for i in range(n_wires):
        with pytest.raises(CircuitError) as err:
            _call(make(), name, i, bad)
        msg = str(err.value)
        assert f"wire must be an integer in [0, {N})" in msg and repr(bad) in msg, msg


@pytest.mark.parametrize("name", _gate_methods())
@pytest.mark.parametrize("bad", [N, -1, 10**6])
def test_every_builder_method_refuses_an_out_of_range_wire(name, bad) -> None:
    with pytest.raises(CircuitError, match=rf"wire {bad} is out of range; a wire must be an "
                                           rf"integer in \[0, {N}\)"):
        _call(Circuit.builder(N), name, 0, bad)


def test_the_reported_example() -> None:
    with pytest.raises(CircuitError, match=r"^H: wire must be an integer in \[0, 2\); got 0.5$"):
        Circuit(2).h(0.5)
    with pytest.raises(CircuitError, match=r"CNOT: wire must be an integer in \[0, 2\); got 0.5"):
        Circuit(2).append("CNOT", 0.5)


def test_numpy_integers_are_wires_and_bools_are_not_sizes() -> None:
    c = Circuit(np.int64(2)).cnot(np.int64(0), np.int32(1))
    assert c.operations[0].wires == (0, 1)
    assert all(type(w) is int for w in c.operations[0].wires)
    with pytest.raises(CircuitError, match="n_qubits"):
        Circuit(True)
    with pytest.raises(CircuitError, match="n_qubits"):
        Circuit.builder(True)


# -- complex values are refused, not truncated ------------------------------------------------

TEMPLATE = Circuit(2).rx(0, x[0]).ry(1, theta[0]).cnot(0, 1)
SIM = StatevectorSimulator()


@pytest.mark.parametrize("call", [
    lambda: SIM.state(TEMPLATE, [0.1 + 0.5j], [0.2]),
    lambda: SIM.state(TEMPLATE, [0.1], np.array([0.2 + 0j])),
    lambda: SIM.expectation(TEMPLATE, "Z0", np.array([[0.1j], [0.2]]), [0.3]),
    lambda: SIM.expectation_angles(TEMPLATE, np.array([[0.1, 0.2j]]), ("Z0",)),
    lambda: TEMPLATE.bind([0.1j], [0.2]),
    lambda: (theta[0] * 2).bind(np.array([1j])),
    lambda: GATES["RX"].matrix([0.3j]),
    lambda: GATES["RX"].derivative([0.3j], 0),
], ids=["weights", "inputs", "batch", "angles", "bind", "expr_bind", "matrix", "derivative"])
def test_complex_values_are_refused_without_a_complex_warning(call) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the old code only warned (ComplexWarning)
        with pytest.raises(ValidationError, match="real"):
            call()


def test_complex_errors_name_what_was_complex() -> None:
    with pytest.raises(BindingError, match="weights must be real numbers; got complex"):
        SIM.state(TEMPLATE, [0.1 + 0.5j], [0.2])
    with pytest.raises(BindingError, match="inputs must be real numbers; got complex"):
        SIM.state(TEMPLATE, [0.1], [0.2 + 1j])
