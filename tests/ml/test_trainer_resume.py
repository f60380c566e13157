"""Stopping mid-epoch (on request, or when a job times out) leaves a checkpoint that resumes
to exactly the weights of an uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest

from q_store.backends.base import BackendCapabilities, InProcessBackend
from q_store.backends.local import run_on_simulator
from q_store.errors import JobTimeoutError
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.sim import StatevectorSimulator


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(18, 3))
    return x, (x[:, 0] - x[:, 1] > 0).astype(int)


def model(backend: object = None) -> QuantumModel:
    return QuantumModel(3, 2, 2, backend, task="classification", seed=1)


KW = dict(epochs=3, batch_size=6, learning_rate=0.05, seed=4)  # 3 steps per epoch


@pytest.mark.parametrize("method", ["adjoint", "spsa", "adaptive"])
def test_a_stop_requested_mid_epoch_resumes_exactly(tmp_path, method):
    full = model()
    QuantumTrainer(TrainingConfig(gradient_method=method, **KW)).fit(full, data())

    first = model()
    trainer = QuantumTrainer(TrainingConfig(gradient_method=method, checkpoint_dir=str(tmp_path),
                                            **KW))
    trainer.performance_tracker.subscribe(
        lambda e: trainer.request_stop() if e["event"] == "step" and e["step"] == 5 else None)
    hist = trainer.fit(first, data())
    assert trainer.stop_reason == "interrupted" and trainer.step == 5
    assert len(hist["losses"]) == 1  # epoch 2 was cut after its second step

    resumed = model()
    resumed.init_parameters(np.random.default_rng(99))  # weights must come from the file
    again = QuantumTrainer(TrainingConfig(gradient_method=method, **KW))
    hist2 = again.fit(resumed, data(), resume_from=tmp_path / "latest.npz")
    np.testing.assert_array_equal(resumed.weights, full.weights)
    assert again.step == 9 and len(hist2["losses"]) == 3


class Stuck(InProcessBackend):
    """A remote-like exact backend whose jobs run normally until ``hang_after`` jobs; later
    jobs time out."""

    name = "stuck"

    def __init__(self, hang_after: int) -> None:
        super().__init__()
        self.hang_after, self.jobs = hang_after, 0
        self.sim = StatevectorSimulator()

    @property
    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(max_qubits=20, exact_expectations=True, batch_jobs=True)

    def _execute(self, circuits, shots, rng):  # type: ignore[no-untyped-def]
        return run_on_simulator(self.sim, circuits, shots, rng)

    async def submit_job_async(self, circuits, shots=None, **kw):  # type: ignore[no-untyped-def]
        self.jobs += 1
        return await super().submit_job_async(circuits, shots, **kw)

    async def get_job_result(self, job_id, *, timeout=None, progress=None):  # type: ignore[no-untyped-def]
        if self.jobs > self.hang_after:  # waiting out the timeout, without the wall time
            raise JobTimeoutError(f"job {job_id} did not finish within {timeout} s")
        return await super().get_job_result(job_id, timeout=timeout, progress=progress)


def test_a_job_timeout_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    backend = Stuck(hang_after=4)
    m = model(backend)
    cfg = TrainingConfig(gradient_method="parameter_shift", checkpoint_dir=str(tmp_path),
                         batch_timeout=30.0, **KW)
    trainer = QuantumTrainer(cfg)
    with pytest.raises(JobTimeoutError) as err:
        trainer.fit(m, data())
    text = str(err.value)
    assert "resume_from=" in text and str(tmp_path / "latest.npz") in text
    assert "The job may still run on the backend" in text  # no ledger for this backend
    state = trainer.load_checkpoint(tmp_path / "latest.npz")
    np.testing.assert_array_equal(state["model_state"]["weights"], m.weights)
    assert trainer.step == 4  # four steps (jobs) went through before the fifth hung
    trainer.close()
