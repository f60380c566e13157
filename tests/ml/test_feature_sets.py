"""v3.4/v3.5 switches: feature sets turn documented options on (explicit choices win),
``use_batch_api`` is deprecated in favour of ``use_concurrent_submission``, and each
submission mode really submits that way."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from q_store.backends.base import BackendCapabilities, InProcessBackend
from q_store.backends.local import run_on_simulator
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.ml.config import V34_FEATURES, V35_FEATURES
from q_store.sim import StatevectorSimulator


def test_the_v34_set_switches_its_options_on_and_off():
    cfg = TrainingConfig(enable_all_v34_features=True)
    assert all(getattr(cfg, name) is True for name in V34_FEATURES)
    assert cfg.switched_on_by_feature_sets == frozenset(V34_FEATURES)
    assert not cfg.adaptive_shot_allocation  # a v3.5 feature
    cfg.enable_all_v34_features = False
    assert not any(getattr(cfg, name) for name in V34_FEATURES)


def test_explicit_settings_win_over_a_feature_set():
    cfg = TrainingConfig(enable_all_v35_features=True, use_native_gates=False)
    assert cfg.use_native_gates is False
    assert set(V35_FEATURES) - {"use_native_gates"} <= {
        n for n in V35_FEATURES if getattr(cfg, n) is True}
    cfg.enable_all_v35_features = False  # what the user set stays
    assert cfg.use_native_gates is False and not cfg.enable_smart_caching


def test_the_v35_set_includes_v34_and_its_own():
    cfg = TrainingConfig(enable_all_v35_features=True)
    assert set(V34_FEATURES) < set(V35_FEATURES)
    assert all(getattr(cfg, name) is True for name in V35_FEATURES)
    assert not cfg.enable_multi_backend and not cfg.enable_dashboard  # left to the user


def test_a_bad_assignment_rolls_the_feature_sets_back():
    cfg = TrainingConfig()
    with pytest.raises(ValueError):
        cfg.enable_all_v34_features = "yes"  # type: ignore[assignment]
    assert cfg.enable_all_v34_features is False and not cfg.enable_smart_caching


def test_use_batch_api_is_deprecated():
    with pytest.warns(DeprecationWarning, match="use_concurrent_submission"):
        TrainingConfig(use_batch_api=True)
    cfg = TrainingConfig()
    with pytest.warns(DeprecationWarning):
        cfg.use_batch_api = False


class Recording(InProcessBackend):
    """The exact simulator behind the backend protocol (as a remote backend would be),
    recording jobs and how many were in flight at once."""

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.sim = StatevectorSimulator()
        self.jobs: list[int] = []
        self.in_flight = self.most_in_flight = 0

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=20, exact_expectations=True, batch_jobs=True)

    def _execute(self, circuits, shots, rng):  # type: ignore[no-untyped-def]
        return run_on_simulator(self.sim, circuits, shots, rng)

    async def submit_job_async(self, circuits, shots=None, **kw):  # type: ignore[no-untyped-def]
        self.jobs.append(1 if not isinstance(circuits, list) else len(circuits))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return await super().submit_job_async(circuits, shots, **kw)

    async def get_job_result(self, job_id, *, timeout=None, progress=None):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.01)  # give other submissions the chance to overlap
        try:
            return await super().get_job_result(job_id, timeout=timeout, progress=progress)
        finally:
            self.in_flight -= 1


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("options,one_job,concurrent", [
    ({}, True, False),
    ({"use_concurrent_submission": True}, False, True),
    ({"use_batch_api": False}, False, False),
])
def test_submission_modes(options, one_job, concurrent):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2))
    y = np.stack([np.sin(x[:, 0]), x[:, 1]], axis=1)
    backend = Recording()
    model = QuantumModel(2, 2, 1, backend, seed=0)
    cfg = TrainingConfig(gradient_method="parameter_shift", **options)
    trainer = QuantumTrainer(cfg)
    _, grad = trainer.loss_and_gradient(model, x, y)
    exact = QuantumTrainer(TrainingConfig()).loss_and_gradient(QuantumModel(2, 2, 1, seed=0),
                                                               x, y)
    np.testing.assert_allclose(grad, exact[1], atol=1e-10)
    if one_job:
        assert len(backend.jobs) == 1 and backend.jobs[0] > 1
    else:
        assert len(backend.jobs) > 1 and set(backend.jobs) == {1}
        assert (backend.most_in_flight > 1) == concurrent
