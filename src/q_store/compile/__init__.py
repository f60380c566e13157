"""Circuit compilation for hardware: IonQ native gates (GPI, GPI2, MS or ZZ), and the
circuit optimisation passes the execution pipeline runs before sending circuits."""

from q_store.compile.ionq_native import (
    NATIVE_GATES,
    CompiledCircuit,
    IonQNativeGateCompiler,
    parse_target,
)
from q_store.compile.optimizer import AdaptiveCircuitOptimizer, OptimizationResult
from q_store.compile.passes import native_single_qubit

__all__ = [
    "NATIVE_GATES",
    "AdaptiveCircuitOptimizer",
    "CompiledCircuit",
    "IonQNativeGateCompiler",
    "OptimizationResult",
    "native_single_qubit",
    "parse_target",
]
