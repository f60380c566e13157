"""Every verbatim configuration block of the spec's v3.4 and v3.5 documents constructs and
trains as written: on the local IonQ-compatible server where the spec names IonQ (reached
through ``IONQ_BASE_URL`` and the ``IONQ_API_KEY*`` variables, as a user's shell would set
them), on the local simulator otherwise. A block that cannot work as written (a ``[...]``
placeholder, a GPU this machine lacks) must fail with a clear error, not run silently without
what it asked for."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from q_store import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.backends import IonQEmulator, LatencyModel
from q_store.errors import ConfigError, ConfigWarning, QStoreError
from q_store.ml import DataLoader
from tests.spec.spec_blocks import BLOCKS

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "spec"
KEY = "spec-blocks-key-4f1a"

# block -> (warnings it must give, error it must raise or None)
EXPECTED: dict[str, tuple[tuple[type[Warning], ...], tuple[type[Exception], str] | None]] = {
    "v3.4#0": ((), None),
    "v3.4#1": ((DeprecationWarning,), None),
    "v3.4#3": ((DeprecationWarning,), None),
    "v3.4#4": ((), None),
    "v3.4#5": ((), None),
    "v3.4#6": ((DeprecationWarning,), None),
    "v3.4#7": ((), None),
    # Qiskit Aer on a GPU this machine does not have: refused, never run on the CPU silently
    "v3.5#0": ((), (QStoreError, "GPU")),
    # circuit optimisation rewrites circuits sent to backends; the local simulator fuses itself
    "v3.5#1": ((ConfigWarning,), None),
    # adaptive shots with exact expectations (no shots): nothing to allocate
    "v3.5#2": ((ConfigWarning,), None),
    "v3.5#3": ((), None),
    "v3.5#4": ((), (QStoreError, "GPU")),
    "v3.5#5": ((), None),
    "v3.5#6": ((DeprecationWarning,), None),
    "v3.5#7": ((), None),
    "v3.5#8": ((), (ConfigError, "backend_configs")),  # `[...]` is the spec's placeholder
    "v3.5#9": ((), None),
    "v3.5#10": ((), None),  # serves the dashboard on 127.0.0.1:8080 while it trains
    "v3.5#11": ((), None),
    "v3.5#12": ((), (ConfigError, "backend_configs")),
    "v3.5#14": ((ConfigWarning,), None),
    "v3.5#15": ((), None),
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[IonQEmulator]:
    with IonQEmulator(latency=LatencyModel(time_scale=0.0)) as emu:  # any key on loopback
        yield emu


@pytest.fixture
def ionq_env(emulator: IonQEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IONQ_BASE_URL", emulator.root_url)
    for name in ("IONQ_API_KEY", "IONQ_API_KEY_1", "IONQ_API_KEY_2"):
        monkeypatch.setenv(name, KEY)


def regression_data(n_features: int, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(n, n_features))
    return x, np.sin(x[:, :1]).ravel()


def image_loaders() -> tuple[DataLoader, DataLoader]:
    rng = np.random.default_rng(2)
    y = np.arange(20) % 10
    x = rng.uniform(0, 255, size=(20, 28 * 28)) + 40 * y[:, None]
    return DataLoader(x[:16], y[:16], 8, seed=0), DataLoader(x[16:], y[16:], 4, shuffle=False)


def namespace(n_qubits: int = 4) -> dict[str, Any]:
    """What the spec's surrounding text has defined before a block: a model of the block's
    width, its data loaders, the keys."""
    x, y = regression_data(n_qubits)
    loader = DataLoader(x, y, 3, seed=0)
    return {"TrainingConfig": TrainingConfig, "QuantumTrainer": QuantumTrainer, "os": os,
            "key1": os.environ.get("IONQ_API_KEY_1"), "key2": os.environ.get("IONQ_API_KEY_2"),
            "model": QuantumModel(n_qubits, 1, 1, seed=0), "train_loader": loader,
            "val_loader": loader, "config": TrainingConfig()}


def execute(name: str, code: str, ns: dict[str, Any]) -> None:
    compiled = compile(textwrap.dedent(code), name, "exec",  # list items are indented
                       flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, ns)
    if asyncio.iscoroutine(result):
        asyncio.run(result)


def train_config(config: TrainingConfig) -> dict[str, Any]:
    """Train a model shaped by ``config`` (one epoch is enough to show it trains)."""
    model = QuantumModel.from_config(config, config.n_qubits, 1)
    trainer = QuantumTrainer(config)
    try:
        return trainer.fit(model, regression_data(config.n_qubits), epochs=1)
    finally:
        trainer.close()


def run_block(name: str) -> dict[str, Any]:
    code = BLOCKS[name]
    if name == "v3.5#5":  # the Fashion classifier's own loop, on small Fashion-MNIST-sized data
        ns = namespace()
        ns["train_loader"], ns["val_loader"] = image_loaders()
        execute(name, code.replace("epochs=20,", "epochs=2,"), ns)
        return ns
    before, _, after = code.partition("# After training")
    width = re.search(r"n_qubits=(\d+)", code)
    ns = namespace(int(width.group(1)) if width else 4)
    execute(name, before, ns)
    if "trainer.train(" not in before:
        ns["history"] = train_config(ns["config"])
    if after:  # e.g. trainer.print_performance_report() once training is done
        trained = QuantumTrainer(ns["config"])
        trained.fit(QuantumModel(4, 1, 1, seed=0), regression_data(4), epochs=1)
        ns["trainer"] = trained
        execute(name, after, ns)
    return ns


@pytest.mark.parametrize("name", sorted(BLOCKS))
@pytest.mark.usefixtures("ionq_env")
def test_spec_block(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    allowed, error = EXPECTED[name]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        if error is None:
            ns = run_block(name)
        else:
            kind, match = error
            with pytest.raises(kind, match=match):
                run_block(name)
            ns = None
    categories = {w.category for w in seen if issubclass(w.category, (ConfigWarning,
                                                                       DeprecationWarning))
                  and "q_store" in str(w.filename) + str(w.message) + name}
    unexpected = {c for c in categories if not issubclass(c, allowed)} if allowed else categories
    assert not {c for c in unexpected if c is ConfigWarning}, [str(w.message) for w in seen]
    for category in allowed:
        if error is None:
            assert any(issubclass(w.category, category) for w in seen), category
    if ns is not None and "history" in ns and isinstance(ns["history"], dict):
        assert np.isfinite(ns["history"]["losses"][-1])


def test_the_blocks_are_verbatim_copies_of_the_spec() -> None:
    docs = {p.name: p.read_text(encoding="utf-8") for p in SPEC.glob("q-store-v3.[45].md")}
    if len(docs) < 2:
        pytest.skip("the spec documents (../shared/spec) are not next to this checkout")
    for name, code in BLOCKS.items():
        doc, index = name.split("#")
        blocks = re.findall(r"```python\n(.*?)```", docs[f"q-store-{doc}.md"], re.S)
        assert blocks[int(index)] == code, name
    found = {f"{d.replace('q-store-', '').replace('.md', '')}#{i}"
             for d, text in docs.items()
             for i, b in enumerate(re.findall(r"```python\n(.*?)```", text, re.S))
             if "TrainingConfig(" in b or "config." in b}
    assert found == set(BLOCKS)
