"""The machine-learning API: configuration, encoders, layers, models, losses, optimisers,
trainer and checkpoints (the spec's ``q_store.ml``)."""

from q_store.data.loaders import DataBatch, DataLoader
from q_store.execution.batch_manager import CircuitBatchManagerV34
from q_store.execution.cache import SmartCircuitCache
from q_store.execution.queue_manager import AdaptiveQueueManager
from q_store.gradients import SPSAGradientEstimator
from q_store.ml.config import TrainingConfig
from q_store.ml.depth import AdaptiveDepth, DepthSchedule, IdentityBlocks
from q_store.ml.encoders import (
    AmplitudeEncoder,
    AngleEncoder,
    BasisEncoder,
    EncodedBatch,
    QuantumDataEncoder,
    ZZFeatureMap,
    get_encoder,
)
from q_store.ml.layers import (
    HardwareEfficientQuantumLayer,
    Layer,
    QuantumConvolutionalLayer,
    QuantumLayer,
    QuantumPoolingLayer,
)
from q_store.ml.losses import cross_entropy, get_loss, mse
from q_store.ml.models import QuantumModel
from q_store.ml.optimizers import adam, apply_updates, chain, sgd
from q_store.ml.trainer import QuantumTrainer

__all__ = [
    "AdaptiveDepth",
    "AdaptiveQueueManager",
    "AmplitudeEncoder",
    "AngleEncoder",
    "BasisEncoder",
    "CircuitBatchManagerV34",
    "DataBatch",
    "DataLoader",
    "DepthSchedule",
    "EncodedBatch",
    "HardwareEfficientQuantumLayer",
    "IdentityBlocks",
    "Layer",
    "QuantumConvolutionalLayer",
    "QuantumDataEncoder",
    "QuantumLayer",
    "QuantumModel",
    "QuantumPoolingLayer",
    "QuantumTrainer",
    "SPSAGradientEstimator",
    "SmartCircuitCache",
    "TrainingConfig",
    "ZZFeatureMap",
    "adam",
    "apply_updates",
    "chain",
    "cross_entropy",
    "get_encoder",
    "get_loss",
    "mse",
    "sgd",
]
