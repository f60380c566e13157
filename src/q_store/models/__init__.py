"""The spec's ``q_store.models`` import path (v3.5): re-exports only.

``from q_store.models import QuantumFashionClassifier``; the implementation is in
:mod:`q_store.ml.fashion`.
"""

from q_store.ml.fashion import DEFAULTS, FashionClassifierDefaults, QuantumFashionClassifier
from q_store.ml.models import QuantumModel

__all__ = ["DEFAULTS", "FashionClassifierDefaults", "QuantumFashionClassifier", "QuantumModel"]
