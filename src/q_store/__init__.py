"""Q-Store: variational quantum circuits as machine-learning models.

Public names are re-exported here explicitly; the implementation lives in the subpackages
``circuit`` (circuit model, observables, QASM), ``sim`` (exact batched simulator) and
``gradients`` (adjoint, parameter shift, finite differences, SPSA, quantum Fisher information).
"""

from q_store import errors
from q_store.circuit import (
    Circuit,
    CircuitBuilder,
    Operation,
    PauliString,
    PauliSum,
    Projector,
    X,
    Y,
    Z,
    theta,
    x,
)
from q_store.gradients import (
    AdjointGradient,
    FiniteDifferenceGradient,
    ParameterShiftGradient,
    SPSAGradient,
    SPSAGradientEstimator,
    get_gradient_method,
    metric_tensor,
    quantum_fisher_information,
)
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator, normalize_state

__version__ = "0.1.0"

__all__ = [
    "AdjointGradient",
    "Circuit",
    "CircuitBuilder",
    "FiniteDifferenceGradient",
    "Operation",
    "ParameterShiftGradient",
    "PauliString",
    "PauliSum",
    "Projector",
    "QuantumModel",
    "QuantumTrainer",
    "SPSAGradient",
    "SPSAGradientEstimator",
    "StatevectorSimulator",
    "TrainingConfig",
    "X",
    "Y",
    "Z",
    "__version__",
    "errors",
    "get_gradient_method",
    "metric_tensor",
    "normalize_state",
    "quantum_fisher_information",
    "theta",
    "x",
]
