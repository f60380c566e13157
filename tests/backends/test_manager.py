"""BackendManager: every documented name builds the right backend (IonQ ones against the local
IonQ server), aliases share one object, the SDK choice sets the default, unknown names and SDKs
are refused with the allowed values, and registered backends are handed out and closed."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from q_store.backends import BackendManager, LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.cirq import CirqSimulatorBackend
from q_store.backends.cost import CostModel
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.batch import CirqIonQBackend
from q_store.backends.ionq.emulator import IonQEmulator, LatencyModel
from q_store.backends.manager import BACKEND_NAMES, SDK_DEFAULTS
from q_store.backends.qiskit import QiskitAerBackend
from q_store.circuit import Circuit
from q_store.errors import ConfigError

KEY = "manager-test-key-7d21"
BELL = Circuit(2).h(0).cnot(0, 1)

EXPECTED = {
    "mock_ideal": LocalSimulatorBackend,
    "mock_noisy": NoisySimulatorBackend,
    "mock_noisy_trajectories": NoisySimulatorBackend,
    "qiskit": QiskitAerBackend,
    "qiskit_aer": QiskitAerBackend,
    "cirq": CirqSimulatorBackend,
    "ionq": IonQBackend,
    "ionq_simulator": IonQBackend,
    "ionq_qpu": IonQBackend,
    "cirq_ionq": CirqIonQBackend,
}


@pytest.fixture(scope="module")
def emu() -> Iterator[IonQEmulator]:
    with IonQEmulator(api_key=KEY, latency=LatencyModel(time_scale=0.001)) as e:
        yield e


def config(emu: IonQEmulator, **fields: Any) -> types.SimpleNamespace:
    base: dict[str, Any] = {"quantum_api_key": KEY, "quantum_target": "simulator",
                            "ionq_base_url": emu.root_url}
    return types.SimpleNamespace(**{**base, **fields})


def test_names_are_documented_and_listed() -> None:
    assert set(EXPECTED) == set(BACKEND_NAMES)
    assert BackendManager().list_backends() == sorted(BACKEND_NAMES)


@pytest.mark.parametrize("name", BACKEND_NAMES)
def test_every_name_resolves_to_its_class(name: str, emu: IonQEmulator) -> None:
    backend = BackendManager(config(emu)).get_backend(name)
    assert type(backend) is EXPECTED[name]
    if isinstance(backend, IonQBackend):
        assert backend.client.root_url == emu.root_url
        assert backend.backend == ("qpu.aria-1" if name == "ionq_qpu" else "simulator")
        assert KEY not in repr(backend)


def test_ionq_qpu_is_priced_and_samples(emu: IonQEmulator) -> None:
    qpu = BackendManager(config(emu)).get_backend("ionq_qpu")
    caps = qpu.capabilities
    assert caps.cost_model == CostModel.ionq_aria() and not caps.exact_expectations
    sim = BackendManager(config(emu)).get_backend("ionq")
    assert sim.capabilities.cost_model.is_free and sim.capabilities.exact_expectations


def test_ionq_options_come_from_the_config(emu: IonQEmulator) -> None:
    m = BackendManager(config(emu, ionq_noise_model="aria-1", use_native_gates=True))
    sim = m.get_backend("ionq_simulator")
    assert isinstance(sim, IonQBackend)
    assert sim.noise_model == "aria-1" and sim.name == "ionq.simulator.aria-1"
    assert sim.compiler is not None
    qpu = m.get_backend("ionq_qpu")
    assert isinstance(qpu, IonQBackend) and qpu.noise_model == "ideal"  # QPUs have their own


def test_ionq_backend_from_the_manager_runs_on_the_server(emu: IonQEmulator) -> None:
    m = BackendManager(config(emu))

    async def work() -> np.ndarray:
        try:
            return (await m.get_backend("ionq").run(BELL)).probabilities
        finally:
            await m.close()

    np.testing.assert_allclose(asyncio.run(work()), [0.5, 0.0, 0.0, 0.5], atol=1e-12)


def test_ionq_needs_an_api_key(monkeypatch: pytest.MonkeyPatch, emu: IonQEmulator) -> None:
    monkeypatch.delenv("IONQ_API_KEY", raising=False)
    m = BackendManager(config(emu, quantum_api_key=None))
    assert isinstance(m.get_backend("mock_ideal"), LocalSimulatorBackend)  # built lazily
    for name in ("ionq", "ionq_qpu", "cirq_ionq"):
        with pytest.raises(ConfigError, match="IONQ_API_KEY"):
            m.get_backend(name)
    monkeypatch.setenv("IONQ_API_KEY", "env-key-0042")
    backend = m.get_backend("ionq")
    assert isinstance(backend, IonQBackend) and "env-key-0042" not in repr(backend)


def test_aliases_return_the_same_object(emu: IonQEmulator) -> None:
    m = BackendManager(config(emu))
    assert m.get_backend("qiskit") is m.get_backend("qiskit_aer")
    assert m.get_backend("ionq") is m.get_backend("ionq_simulator")
    assert m.get_backend("cirq") is m.get_backend("cirq")
    assert m.get_backend("ionq") is not m.get_backend("ionq_qpu")


def test_unknown_names_are_refused_with_the_available_ones() -> None:
    m = BackendManager()
    with pytest.raises(ConfigError, match="unknown backend 'braket'") as info:
        m.get_backend("braket")
    assert all(name in str(info.value) for name in BACKEND_NAMES)
    with pytest.raises(ConfigError, match="backend names are strings"):
        m.get_backend(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("sdk", "cls"), [("mock", LocalSimulatorBackend),
                                          ("qiskit", QiskitAerBackend),
                                          ("cirq", CirqSimulatorBackend),
                                          ("ionq", IonQBackend)])
def test_initialize_selects_the_default(sdk: str, cls: type, emu: IonQEmulator) -> None:
    m = BackendManager(config(emu))
    assert asyncio.run(m.initialize(sdk=sdk)) is m
    assert m.sdk == sdk and m.default_name == SDK_DEFAULTS[sdk]
    assert type(m.get_backend()) is cls
    assert m.get_backend() is m.get_backend(SDK_DEFAULTS[sdk])


def test_default_follows_the_config(emu: IonQEmulator) -> None:
    assert isinstance(BackendManager().get_backend(), LocalSimulatorBackend)
    m = BackendManager(config(emu, quantum_sdk="cirq"))
    asyncio.run(m.initialize())  # no sdk: the config's stays
    assert isinstance(m.get_backend(), CirqSimulatorBackend)
    qpu = BackendManager(config(emu, quantum_sdk="ionq", quantum_target="qpu"))
    assert qpu.default_name == "ionq_qpu"
    assert qpu.get_backend().backend == "qpu.aria-1"  # type: ignore[attr-defined]


def test_unknown_sdk_is_refused() -> None:
    m = BackendManager()
    with pytest.raises(ConfigError, match="unknown sdk 'braket'; choose one of mock, cirq"):
        asyncio.run(m.initialize(sdk="braket"))
    assert m.sdk == "mock" and isinstance(m.get_backend(), LocalSimulatorBackend)


def test_register_hands_out_and_closes_your_backend() -> None:
    closed: list[str] = []

    class Mine(LocalSimulatorBackend):
        async def close(self) -> None:
            closed.append(self.name)
            await super().close()

    m = BackendManager()
    mine, replacement = Mine("mine"), Mine("replacement")
    m.register("mine", mine)
    m.register("mock_ideal", replacement)  # replaces the built-in
    assert m.get_backend("mine") is mine
    assert m.get_backend() is replacement
    with pytest.raises(ConfigError, match="expected a QuantumBackend, got str"):
        m.register("bad", "mock_ideal")  # type: ignore[arg-type]
    asyncio.run(m.close())
    assert sorted(closed) == ["mine", "replacement"]


def test_register_under_an_alias() -> None:
    m = BackendManager()
    mine = LocalSimulatorBackend("mine")
    m.register("qiskit", mine)
    assert m.get_backend("qiskit") is mine


def test_registered_names_are_listed() -> None:
    m = BackendManager()
    m.register("mine", LocalSimulatorBackend("mine"))
    assert "mine" in m.list_backends()


def test_unknown_sdk_in_config_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown quantum_sdk 'braket'"):
        BackendManager(types.SimpleNamespace(quantum_sdk="braket"))


def test_cirq_ionq_on_qpu_ignores_the_simulator_noise_model(emu: IonQEmulator) -> None:
    m = BackendManager(config(emu, quantum_target="qpu", ionq_noise_model="aria-1"))
    assert m.get_backend("ionq").noise_model == "ideal"  # type: ignore[attr-defined]
    assert m.get_backend("cirq_ionq").noise_model == "ideal"  # type: ignore[attr-defined]
