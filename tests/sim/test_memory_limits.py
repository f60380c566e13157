"""Requests that will not fit in memory are refused before anything is allocated, with the size
needed and the size available; counts and shot estimates take memory independent of shots."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from q_store.circuit import Circuit, Projector, X, Z, theta
from q_store.errors import ConfigError, QStoreError, ResourceLimitError
from q_store.sim import StatevectorSimulator
from q_store.sim import memory as mem

SIM = StatevectorSimulator()
GIB = 2**30
MIB = 2**20


@pytest.fixture(autouse=True)
def _no_limit(monkeypatch):
    monkeypatch.delenv(mem.ENV_VAR, raising=False)
    mem.set_memory_limit(None)
    yield
    mem.set_memory_limit(None)


def peak_bytes(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- refusing what will not fit ---------------------------------------------------------------

def test_thirty_qubits_are_refused_with_needed_and_available_sizes() -> None:
    mem.set_memory_limit(8 * GIB)
    with pytest.raises(ResourceLimitError) as err:
        SIM.state(Circuit(30).h(0))
    msg = str(err.value)
    assert "needs 32.0 GiB" in msg and "8.0 GiB" in msg and "30 qubits" in msg, msg
    assert isinstance(err.value, MemoryError) and isinstance(err.value, QStoreError)


def test_the_default_limit_is_the_available_memory(monkeypatch) -> None:
    monkeypatch.setattr(mem, "available_memory", lambda: 3 * GIB)
    with pytest.raises(ResourceLimitError, match=r"needs 32\.0 GiB .* available memory is "
                                                 r"3\.0 GiB"):
        SIM.probabilities(Circuit(30).x(29))
    # a request under CHECK_ABOVE never reads the available memory
    monkeypatch.setattr(mem, "available_memory", lambda: 1)
    assert SIM.probabilities(Circuit(3).x(2))[1] == 1.0


def test_the_environment_variable_sets_the_limit(monkeypatch) -> None:
    monkeypatch.setenv(mem.ENV_VAR, "1G")
    with pytest.raises(ResourceLimitError, match=r"needs 2\.0 GiB .* Q_STORE_MEMORY_LIMIT=1G is "
                                                 r"1\.0 GiB"):
        SIM.state(Circuit(26).h(0))
    monkeypatch.setenv(mem.ENV_VAR, "lots")
    with pytest.raises(ConfigError, match="not a size"):
        SIM.state(Circuit(26).h(0))


def test_a_large_batch_is_refused_and_a_small_one_runs() -> None:
    mem.set_memory_limit(1 * GIB)
    c = Circuit(16).ry(0, theta[0])
    with pytest.raises(ResourceLimitError, match=r"4096 state\(s\) of 16 qubits"):
        SIM.expectation(c, Z(0), np.zeros((4096, 1)))
    np.testing.assert_allclose(SIM.expectation(c, Z(0), np.zeros((8, 1))), np.ones(8))


def test_bad_limits_are_refused() -> None:
    for bad in (0, -1, 1.5, True, "1G"):
        with pytest.raises(ConfigError, match="memory limit"):
            mem.set_memory_limit(bad)  # type: ignore[arg-type]


def test_sample_with_too_many_shots_is_refused_before_allocating() -> None:
    mem.set_memory_limit(256 * MIB)
    with pytest.raises(ResourceLimitError, match="sampling 1000000000 shots of 2 bits") as err:
        peak_bytes(lambda: SIM.sample(Circuit(2).h(0), 10**9, seed=0))
    assert "use counts" in str(err.value)


# -- counts and shot estimates in memory independent of shots ----------------------------------

def test_counts_of_a_billion_shots_take_little_memory_and_are_right() -> None:
    c = Circuit(3).ry(0, 1.1).cnot(0, 1).rx(2, 0.4)
    p = SIM.probabilities(c)
    shots = 10**9
    counts, peak = peak_bytes(lambda: SIM.counts(c, shots, seed=7))
    assert peak < 1 * MIB, peak  # the old sampler allocated 7.45 GiB here
    assert sum(counts.values()) == shots
    assert list(counts) == sorted(counts) and all(len(k) == 3 for k in counts)
    for key, n in counts.items():
        pk = p[int(key, 2)]
        assert abs(n / shots - pk) <= 5 * np.sqrt(pk * (1 - pk) / shots) + 1e-12
    assert set(counts) == {format(i, "03b") for i in np.flatnonzero(p > 1e-12)}


def test_counts_are_seeded_and_follow_wire_order() -> None:
    c = Circuit(3).h(0).ry(1, 0.7).x(2)
    a, b = SIM.counts(c, 5000, seed=3), SIM.counts(c, 5000, seed=3)
    assert a == b and SIM.counts(c, 5000, seed=4) != a
    assert all(k[2] == "1" for k in a)  # wire 2 is always 1, read as the last character
    marg = SIM.counts(c, 1000, wires=(2, 0), seed=1)
    assert set(marg) <= {"10", "11"} and sum(marg.values()) == 1000


def test_shot_estimates_take_memory_independent_of_shots() -> None:
    c = Circuit(3).ry(0, 1.1).cnot(0, 1).rx(2, 0.4).ry(1, 0.3)
    obs = [Z(0), X(1) @ Z(2), Projector("01", wires=(0, 1))]
    exact = SIM.expectation(c, obs)
    shots = 10**8
    est, peak = peak_bytes(lambda: SIM.sample_expectation(c, obs, shots, seed=5))
    assert peak < 1 * MIB, peak  # the old estimator sampled every shot (GiBs here)
    np.testing.assert_allclose(est, exact, atol=5 / np.sqrt(shots))
    np.testing.assert_array_equal(est, SIM.sample_expectation(c, obs, shots, seed=5))


def test_shot_estimates_are_unbiased_over_many_seeds() -> None:
    """The mean of many independent 100-shot estimates converges to the exact value: the
    multinomial draw estimates the same quantity as per-shot sampling did."""
    c = Circuit(2).ry(0, 0.9).cnot(0, 1).rx(1, 0.5)
    obs = [Z(0) @ Z(1), X(0), Projector("10", wires=(0, 1))]
    exact = SIM.expectation(c, obs)
    runs = np.array([SIM.sample_expectation(c, obs, 100, seed=s) for s in range(400)])
    se = runs.std(axis=0) / np.sqrt(len(runs))
    assert np.all(np.abs(runs.mean(axis=0) - exact) < 5 * se + 1e-12)
