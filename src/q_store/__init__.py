"""Q-Store: variational quantum circuits as machine-learning models."""

from q_store import errors
from q_store.circuit import Circuit, CircuitBuilder, Operation, theta, x

__version__ = "0.1.0"

__all__ = ["Circuit", "CircuitBuilder", "Operation", "__version__", "errors", "theta", "x"]
