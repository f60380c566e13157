"""The spec's ``q_store.core.data_encoder`` import path."""

from q_store.ml.encoders import QuantumDataEncoder

__all__ = ["QuantumDataEncoder"]
