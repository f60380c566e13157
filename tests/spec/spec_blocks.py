# ruff: noqa: E501 - verbatim copies of the spec's code
"""The verbatim configuration blocks of the spec's v3.4 and v3.5 documents (copied from
``../shared/spec``; a test checks the copies against the documents when they are there)."""

from __future__ import annotations

BLOCKS: dict[str, str] = {
    'v3.4#0': (
        'from q_store.ml import TrainingConfig\n'
        '\n'
        'config = TrainingConfig(\n'
        '    pinecone_api_key="your_key",\n'
        '    quantum_sdk="ionq",\n'
        '    quantum_api_key="your_ionq_key",\n'
        '    \n'
        '    # Single flag to enable all optimizations\n'
        '    enable_all_v34_features=True\n'
        ')\n'
    ),
    'v3.4#1': (
        'config = TrainingConfig(\n'
        '    # Choose specific optimizations\n'
        '    use_batch_api=True,          # 12x faster submission (recommended)\n'
        '    use_native_gates=True,       # 30% faster execution (recommended)\n'
        '    enable_smart_caching=True,   # 10x faster preparation (recommended)\n'
        '    adaptive_batch_sizing=False, # Optional queue optimization\n'
        '    \n'
        '    # Advanced tuning\n'
        '    connection_pool_size=5,      # HTTP connections to IonQ\n'
        '    max_queue_wait_time=120.0,   # Timeout for queue (seconds)\n'
        '    retry_failed_circuits=True,  # Auto-retry on failure\n'
        ')\n'
    ),
    'v3.4#3': (
        '# Week 1: Enable batch API\n'
        'config.use_batch_api = True  # 5x improvement\n'
        '\n'
        '# Week 2: Add native gates\n'
        'config.use_native_gates = True  # Additional 1.3x\n'
        '\n'
        '# Week 3: Enable caching\n'
        'config.enable_smart_caching = True  # Additional 2x\n'
    ),
    'v3.4#4': (
        '# Enable everything at once\n'
        'config.enable_all_v34_features = True  # 8-10x improvement\n'
    ),
    'v3.4#5': (
        'config = TrainingConfig(\n'
        '    enable_all_v34_features=True,\n'
        '    connection_pool_size=5,\n'
        '    batch_size=20\n'
        ')\n'
    ),
    'v3.4#6': (
        'config = TrainingConfig(\n'
        '    use_batch_api=True,\n'
        '    use_native_gates=True,\n'
        '    enable_smart_caching=True,\n'
        '    adaptive_batch_sizing=False,  # Disable for predictable behavior\n'
        '    max_queue_wait_time=180.0     # Longer timeout\n'
        ')\n'
    ),
    'v3.4#7': (
        'config = TrainingConfig(\n'
        '    enable_all_v34_features=True,\n'
        '    debug_mode=True,\n'
        "    log_level='DEBUG'\n"
        ')\n'
    ),
    'v3.5#0': (
        'from q_store import TrainingConfig, QuantumTrainer\n'
        '\n'
        'config = TrainingConfig(\n'
        '    # Enable multi-backend orchestration\n'
        '    enable_multi_backend=True,\n'
        '    backend_configs=[\n'
        "        {'provider': 'ionq', 'target': 'simulator', 'api_key': key1},\n"
        "        {'provider': 'ionq', 'target': 'simulator', 'api_key': key2},\n"
        "        {'provider': 'local', 'simulator': 'qiskit_aer', 'device': 'GPU'},\n"
        '    ],\n'
        ')\n'
    ),
    'v3.5#1': (
        'config = TrainingConfig(\n'
        '    # Enable adaptive circuit depth\n'
        '    adaptive_circuit_depth=True,\n'
        "    circuit_depth_schedule='exponential',  # 'linear', 'exponential', or 'step'\n"
        '    min_circuit_depth=2,\n'
        '    max_circuit_depth=4,\n'
        '    \n'
        '    # Enable circuit optimization\n'
        '    enable_circuit_optimization=True,\n'
        '    gate_merging=True,\n'
        '    identity_removal=True,\n'
        '    entanglement_pruning=True,\n'
        ')\n'
    ),
    'v3.5#2': (
        'config = TrainingConfig(\n'
        '    # Enable adaptive shots\n'
        '    adaptive_shot_allocation=True,\n'
        '    min_shots=500,    # Early training\n'
        '    max_shots=2000,   # Late training\n'
        '    base_shots=1000,  # Mid training\n'
        ')\n'
    ),
    'v3.5#3': (
        'config = TrainingConfig(\n'
        '    # Use natural gradient\n'
        "    gradient_method='natural_gradient',\n"
        '    natural_gradient_regularization=0.01,\n'
        '    qfim_cache_size=100,\n'
        ')\n'
    ),
    'v3.5#4': (
        'from q_store import TrainingConfig, QuantumTrainer\n'
        'import os\n'
        '\n'
        'config = TrainingConfig(\n'
        '    # Backend configuration\n'
        "    quantum_sdk='ionq',\n"
        "    quantum_api_key=os.getenv('IONQ_API_KEY'),\n"
        "    quantum_target='simulator',\n"
        '    \n'
        '    # Model architecture\n'
        '    n_qubits=8,\n'
        '    circuit_depth=4,\n'
        '    \n'
        '    # Training hyperparameters\n'
        '    batch_size=10,\n'
        '    epochs=20,\n'
        '    learning_rate=0.01,\n'
        '    \n'
        '    # v3.5 NEW: Multi-backend orchestration\n'
        '    enable_multi_backend=True,\n'
        '    backend_configs=[\n'
        "        {'provider': 'ionq', 'target': 'simulator', 'api_key': os.getenv('IONQ_API_KEY_1')},\n"
        "        {'provider': 'ionq', 'target': 'simulator', 'api_key': os.getenv('IONQ_API_KEY_2')},\n"
        "        {'provider': 'local', 'simulator': 'qiskit_aer', 'device': 'GPU'},\n"
        '    ],\n'
        '    \n'
        '    # v3.5 NEW: Adaptive optimizations\n'
        '    adaptive_circuit_depth=True,\n'
        "    circuit_depth_schedule='exponential',\n"
        '    min_circuit_depth=2,\n'
        '    max_circuit_depth=4,\n'
        '    \n'
        '    adaptive_shot_allocation=True,\n'
        '    min_shots=500,\n'
        '    max_shots=2000,\n'
        '    base_shots=1000,\n'
        '    \n'
        '    # v3.5 NEW: Advanced gradient methods\n'
        "    gradient_method='natural_gradient',\n"
        '    natural_gradient_regularization=0.01,\n'
        '    qfim_cache_size=100,\n'
        '    \n'
        '    # v3.5 NEW: Circuit optimization\n'
        '    enable_circuit_optimization=True,\n'
        '    gate_merging=True,\n'
        '    identity_removal=True,\n'
        '    entanglement_pruning=True,\n'
        '    \n'
        '    # v3.4 features (still supported)\n'
        '    use_concurrent_submission=True,\n'
        '    use_native_gates=True,\n'
        '    enable_smart_caching=True,\n'
        '    connection_pool_size=5,\n'
        '    \n'
        '    # Monitoring\n'
        '    enable_performance_tracking=True,\n'
        '    enable_dashboard=True,\n'
        '    dashboard_port=8080,\n'
        ')\n'
        '\n'
        '# Create and train\n'
        'trainer = QuantumTrainer(config)\n'
        'await trainer.train(model, train_loader, val_loader)\n'
    ),
    'v3.5#5': (
        'from q_store.models import QuantumFashionClassifier\n'
        'from q_store import TrainingConfig, QuantumTrainer\n'
        '\n'
        '# Create quantum classifier\n'
        'model = QuantumFashionClassifier(\n'
        '    n_qubits=6,\n'
        '    circuit_depth=4,\n'
        '    n_classes=10\n'
        ')\n'
        '\n'
        '# Configure training\n'
        'config = TrainingConfig(\n'
        '    enable_all_v35_features=True,\n'
        '    batch_size=10,\n'
        '    epochs=20,\n'
        '    learning_rate=0.01,\n'
        ')\n'
        '\n'
        '# Train\n'
        'trainer = QuantumTrainer(config)\n'
        'history = await trainer.train(model, train_loader, val_loader)\n'
    ),
    'v3.5#6': (
        '# Old v3.4 code (still works)\n'
        'config = TrainingConfig(\n'
        '    use_batch_api=True,  # DEPRECATED but supported\n'
        '    enable_all_v34_features=True,\n'
        ')\n'
        '\n'
        '# New v3.5 code (recommended)\n'
        'config = TrainingConfig(\n'
        '    use_concurrent_submission=True,  # Renamed for clarity\n'
        '    enable_all_v35_features=True,    # Includes v3.4 + new features\n'
        ')\n'
    ),
    'v3.5#7': (
        '   config = TrainingConfig(\n'
        '       enable_all_v35_features=True,\n'
        '   )\n'
        '   '
    ),
    'v3.5#8': (
        '   config = TrainingConfig(\n'
        '       enable_multi_backend=True,\n'
        '       backend_configs=[...],\n'
        '   )\n'
        '   '
    ),
    'v3.5#9': (
        '   config = TrainingConfig(\n'
        "       gradient_method='natural_gradient',\n"
        '   )\n'
        '   '
    ),
    'v3.5#10': (
        'config = TrainingConfig(\n'
        '    enable_dashboard=True,\n'
        '    dashboard_port=8080,\n'
        ')\n'
    ),
    'v3.5#11': (
        'config = TrainingConfig(\n'
        '    enable_performance_tracking=True,\n'
        ')\n'
        '\n'
        '# After training\n'
        'trainer.print_performance_report()\n'
    ),
    'v3.5#12': (
        '# Step 1: Baseline with v3.4 features\n'
        'config = TrainingConfig(\n'
        '    use_concurrent_submission=True,\n'
        '    enable_smart_caching=True,\n'
        ')\n'
        '\n'
        '# Step 2: Add adaptive optimizations\n'
        'config.adaptive_circuit_depth = True\n'
        'config.adaptive_shot_allocation = True\n'
        '\n'
        '# Step 3: Enable multi-backend if available\n'
        'config.enable_multi_backend = True\n'
        'config.backend_configs = [...]\n'
    ),
    'v3.5#14': (
        '# Increase minimum shots\n'
        'config = TrainingConfig(\n'
        '    adaptive_shot_allocation=True,\n'
        '    min_shots=1000,  # Increase from 500\n'
        '    max_shots=2000,\n'
        ')\n'
    ),
    'v3.5#15': (
        '# Use more conservative schedule\n'
        'config = TrainingConfig(\n'
        '    adaptive_circuit_depth=True,\n'
        "    circuit_depth_schedule='step',  # Instead of 'exponential'\n"
        "    min_circuit_depth=3,  # Don't simplify as much\n"
        ')\n'
    ),
}
