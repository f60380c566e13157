"""The spec's own examples run on the local simulator, changed only where the spec forces it
(``quantum_sdk='mock'`` / ``mock_ideal`` instead of cloud backends; data supplied)."""

from __future__ import annotations

import asyncio

import numpy as np

from q_store.data import DataLoader


def _data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, d))
    return x, (x[:, 0] + x[:, 1] > 0).astype(int)


def test_v32_quick_start():
    from q_store.core import BackendManager, QuantumModel, QuantumTrainer, TrainingConfig
    from q_store.core.data_encoder import QuantumDataEncoder

    training_data, labels = _data(50, 4)

    async def main() -> float:
        config = TrainingConfig(pinecone_api_key="your-api-key", quantum_sdk="mock",
                                learning_rate=0.01, epochs=10, batch_size=5, n_qubits=4)
        backend_manager = BackendManager(config)
        backend = backend_manager.get_backend("mock_ideal")
        model = QuantumModel(input_dim=4, output_dim=2, n_layers=2, backend=backend)
        encoder = QuantumDataEncoder(n_qubits=4)
        encoded_data = await encoder.encode_batch(training_data, method="amplitude")
        assert encoded_data.states.shape == (50, 16)
        data_loader = DataLoader(training_data, np.stack([labels, 1 - labels], 1).astype(float),
                                 batch_size=config.batch_size)
        trainer = QuantumTrainer(config, backend_manager)
        history = await trainer.train(model, data_loader)
        print(f"Final loss: {history['losses'][-1]:.4f}")
        return history["losses"][-1] / history["losses"][0]

    assert asyncio.run(main()) < 0.9  # it learns


def test_v32_transfer_learning():
    from q_store.core import QuantumModel, QuantumTrainer, TrainingConfig

    x, y = _data(30, 4)
    config = TrainingConfig(epochs=2, learning_rate=0.05)
    model = QuantumModel(4, 1, 2)
    trainer = QuantumTrainer(config)
    targets = y.astype(float)[:, None]
    asyncio.run(trainer.train(model, DataLoader(x, targets, 10)))
    model.quantum_layer.freeze_parameters([0, 1, 2, 3])
    frozen = model.weights[:4].copy()
    config.learning_rate = 0.001
    asyncio.run(QuantumTrainer(config).train(model, DataLoader(x, targets, 10)))
    np.testing.assert_array_equal(model.weights[:4], frozen)


def test_v33_training_example():
    from q_store.core import (
        BackendManager,
        HardwareEfficientQuantumLayer,
        QuantumModel,
        QuantumTrainer,
        TrainingConfig,
    )

    x, y = _data(100, 8, seed=1)
    data_loader = DataLoader(x, np.stack([y, 1 - y], 1).astype(float), batch_size=10)

    async def main() -> dict[str, float]:
        config = TrainingConfig(
            pinecone_api_key="your-api-key", quantum_sdk="mock", learning_rate=0.01, epochs=5,
            batch_size=10, n_qubits=8, gradient_method="adaptive", enable_circuit_cache=True,
            enable_batch_execution=True, hardware_efficient_ansatz=True, cache_size=1000,
            batch_timeout=60.0)
        backend_manager = BackendManager(config)
        backend = backend_manager.get_backend("mock_ideal")
        model = QuantumModel(input_dim=8, output_dim=2, n_layers=2, backend=backend,
                             layer_class=HardwareEfficientQuantumLayer)
        trainer = QuantumTrainer(config, backend_manager)
        await trainer.train(model, data_loader)
        stats = trainer.get_performance_stats()
        print(f"Average circuits per batch: {stats['avg_circuits']}")
        print(f"Cache hit rate: {stats['cache_hit_rate']:.1%}")
        print(f"Training time: {stats['total_time']:.1f}s")
        return stats

    stats = asyncio.run(main())
    # adaptive: SPSA (2 perturbations + values per sample) with periodic parameter shift
    assert 30 <= stats["avg_circuits"] <= 10 * (2 * 32 + 1)
    assert stats["cache_hit_rate"] > 0.9


def test_v33_readme_quick_start():
    from q_store.backends import BackendManager
    from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig

    x, y = _data(40, 8, seed=2)

    async def train() -> tuple[list[float], dict[str, float], dict[str, int]]:
        config = TrainingConfig(n_qubits=8, circuit_depth=2, gradient_method="spsa",
                                hardware_efficient_ansatz=True, enable_circuit_cache=True,
                                enable_batch_execution=True, enable_performance_tracking=True,
                                learning_rate=0.01, batch_size=10, epochs=5)
        backend_manager = BackendManager()
        await backend_manager.initialize(sdk="mock")
        trainer = QuantumTrainer(config, backend_manager)
        model = QuantumModel(input_dim=8, n_qubits=8, output_dim=2,
                             backend=backend_manager.get_backend(), hardware_efficient=True)
        history = await trainer.train(model, DataLoader(x, np.stack([y, 1 - y], 1) * 1.0, 10))
        return history["losses"], trainer.get_performance_stats(), history["gradient_methods"][0]

    losses, stats, methods = asyncio.run(train())
    assert len(losses) == 5 and all(np.isfinite(losses))
    # SPSA: per sample one run for the values and two perturbed runs, whatever the weight count
    assert methods == {"spsa": 4}
    assert stats["avg_circuits"] == 10 * 3
