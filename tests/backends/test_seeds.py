"""Per-circuit seeds: a circuit's sample depends on its circuit and its seed only, not on the
job it was sent in or its position there, on every backend (IonQ's noisy simulator, whose seed
is per job, takes them one circuit per job and refuses them in a multi-circuit job)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from q_store.backends import LocalSimulatorBackend, NoisySimulatorBackend
from q_store.backends.base import CircuitResult, QuantumBackend, check_job_seeds
from q_store.backends.ionq.backend import IonQBackend
from q_store.backends.ionq.emulator import IonQEmulator
from q_store.circuit import Circuit
from q_store.errors import BackendError

CIRCUITS = [Circuit(3).ry(0, 0.3 * k).cnot(0, 1).rx(2, 1.1 - 0.2 * k).h(1) for k in range(4)]
SEEDS = [11, 22, 33, 44]
SHOTS = 200


def in_process() -> list[QuantumBackend]:
    from q_store.backends.cirq import CirqSimulatorBackend
    from q_store.backends.qiskit import QiskitAerBackend

    return [LocalSimulatorBackend(), NoisySimulatorBackend(), CirqSimulatorBackend(),
            QiskitAerBackend()]


async def results(backend: QuantumBackend, circuits: list[Circuit], seed: Any,
                  shots: int | None = SHOTS) -> list[CircuitResult]:
    job = await backend.submit_job_async(circuits, shots, seed=seed)
    return list((await backend.get_job_result(job, timeout=60)).circuits)


def same(a: list[CircuitResult], b: list[CircuitResult]) -> bool:
    return all(np.array_equal(x.probabilities, y.probabilities) and x.counts == y.counts
               for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("index", range(4), ids=["local", "noisy", "cirq", "qiskit"])
def test_a_circuits_sample_does_not_depend_on_its_job(index: int) -> None:
    backend = in_process()[index]

    async def go() -> None:
        together = await results(backend, CIRCUITS, SEEDS)
        alone = [(await results(backend, [c], [s]))[0] for c, s in zip(CIRCUITS, SEEDS,
                                                                         strict=True)]
        reordered = await results(backend, CIRCUITS[::-1], SEEDS[::-1])
        assert same(together, alone) and same(together, reordered[::-1])
        assert sum(together[0].counts.values()) == SHOTS
        other = await results(backend, CIRCUITS, [s + 1 for s in SEEDS])
        assert not same(together, other)  # the seed does matter

    asyncio.run(go())


def test_seed_sequences_are_checked() -> None:
    assert check_job_seeds([1, 2], 2) == (1, 2) and check_job_seeds(5, 3) == 5
    for bad, n in (([1, 2], 3), ([1, -2], 2), ("12", 2), ([1.5], 1)):
        with pytest.raises(BackendError):
            check_job_seeds(bad, n)


def test_exact_jobs_ignore_seeds() -> None:
    backend = LocalSimulatorBackend()
    a = asyncio.run(results(backend, CIRCUITS, SEEDS, shots=None))
    b = asyncio.run(results(backend, CIRCUITS, [0, 0, 0, 0], shots=None))
    assert same(a, b) and a[0].shots is None


def test_ionq_noisy_simulator_takes_per_circuit_seeds_one_circuit_per_job() -> None:
    with IonQEmulator(api_key="k") as emu:
        noisy = IonQBackend("k", base_url=emu.root_url, noise_model="aria-1", poll_min=0.005,
                            poll_max=0.05)
        ideal = IonQBackend("k", base_url=emu.root_url, poll_min=0.005, poll_max=0.05)
        assert not noisy.capabilities.seeds_per_circuit and ideal.capabilities.exact_with_shots

        async def go() -> None:
            with pytest.raises(BackendError, match="noise seed is per job"):
                await noisy.submit_job_async(CIRCUITS, SHOTS, seed=SEEDS)
            one = await results(noisy, CIRCUITS[:1], SEEDS[:1])
            assert same(one, await results(noisy, CIRCUITS[:1], SEEDS[0]))
            assert sum(one[0].counts.values()) == SHOTS
            exact = await results(ideal, CIRCUITS, SEEDS)  # exact: seeds do nothing
            assert exact[0].shots is None
            await noisy.close()
            await ideal.close()

        asyncio.run(go())
