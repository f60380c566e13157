"""Circuit compilation for hardware: IonQ native gates (GPI, GPI2, MS or ZZ)."""

from q_store.compile.ionq_native import (
    NATIVE_GATES,
    CompiledCircuit,
    IonQNativeGateCompiler,
    parse_target,
)
from q_store.compile.passes import native_single_qubit

__all__ = [
    "NATIVE_GATES",
    "CompiledCircuit",
    "IonQNativeGateCompiler",
    "native_single_qubit",
    "parse_target",
]
