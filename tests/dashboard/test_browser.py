"""The dashboard in a real headless Chromium: the page loads, its charts get points while a
short training runs, no console errors; the screenshot the README shows is written here
(docs/dashboard.png). Skipped, with the reason, where Debian's chromium is not installed."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from q_store.backends.manager import BackendManager
from q_store.ml import QuantumModel, QuantumTrainer, TrainingConfig
from q_store.store import RunRecorder, RunStore
from tests.dashboard.browser import (
    EMPTY_JS,
    POINTS_JS,
    driver_or_skip,
    severe_console_messages,
    wait_for,
)

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
LIVE_CHARTS = ("loss", "accuracy", "circuits", "backends", "variance", "shots", "complexity",
               "cost")


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = driver_or_skip(tmp_path_factory.mktemp("chromium-profile"))
    yield d
    d.quit()


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.normal(scale=0.4, size=(n, 4)) + np.where(y[:, None] == 1, 0.7, -0.7), y


class GatedLoader:
    """Batches of (x, y); the second epoch waits for ``gate``: training is certainly still
    running while the test looks at the page."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch: int, gate: threading.Event
                 ) -> None:
        self.x, self.y, self.batch, self.gate, self.epoch = x, y, batch, gate, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch)

    def __iter__(self) -> Any:
        for i in range(0, len(self.x), self.batch):
            if self.epoch >= 1 and i == 0 and not self.gate.wait(300):
                raise TimeoutError("the test never opened the gate")
            yield self.x[i : i + self.batch], self.y[i : i + self.batch]


def test_live_training_fills_every_chart_without_console_errors(driver: Any) -> None:
    # sampled parameter-shift gradients on two noisy backends (the orchestrator splits the
    # circuits), with the adaptive shot allocator and circuit optimisation on: every chart
    # has events to draw
    cfg = TrainingConfig(enable_dashboard=True, dashboard_port=0,
                         gradient_method="parameter_shift", shots=300,
                         adaptive_shot_allocation=True, min_shots=100, base_shots=300,
                         max_shots=2000, enable_circuit_optimization=True, learning_rate=0.1,
                         epochs=3, batch_size=8, seed=3, enable_multi_backend=True,
                         backend_configs=[
                             {"provider": "local", "simulator": "mock_noisy", "name": name}
                             for name in ("noisy-a", "noisy-b")])
    manager = BackendManager(cfg)
    model = QuantumModel.from_config(cfg, 4, 2, task="classification")
    x, y = blobs(24, 0)
    gate = threading.Event()
    trainer = QuantumTrainer(cfg, manager)
    errors: list[BaseException] = []

    def train() -> None:
        try:
            trainer.fit(model, GatedLoader(x, y, 8, gate), blobs(8, 1))
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    try:
        url = wait_for(lambda: trainer.dashboard and trainer.dashboard.url, 120,
                       "the trainer's dashboard")
        driver.get(url)
        # epoch 1 done, epoch 2 held at the gate: every chart has points, the run is live
        points = wait_for(lambda: (lambda p: p if all(p[k] > 0 for k in LIVE_CHARTS)
                                   else None)(driver.execute_script(POINTS_JS)),
                          180, "points on every chart")
        assert driver.execute_script("return window.qstore.status") == "running"
        bars = driver.execute_script("return window.qstore.charts.backends.bars")
        assert sorted(b["name"] for b in bars) == ["noisy-a", "noisy-b"]
        assert thread.is_alive() and not errors
        gate.set()
        thread.join(300)
        assert not errors, errors
        wait_for(lambda: driver.execute_script("return window.qstore.status") == "completed",
                 60, "the page to show the run completed")
        after = driver.execute_script(POINTS_JS)
        # the load chart: the circuits the orchestrator sent each backend, all of them
        split: dict[str, int] = {}
        for e in trainer.performance_tracker.events("backend_stats"):
            for name, n in e["split"].items():
                split[name] = split.get(name, 0) + n
        bars = driver.execute_script("return window.qstore.charts.backends.bars")
        assert {b["name"]: b["value"] for b in bars} == split
        assert min(split.values()) > 0
        assert after["loss"] > points["loss"] and after["shots"] > points["shots"]
        # the loss chart holds exactly the trainer's step losses, in order
        step_losses = driver.execute_script(
            "return window.qstore.charts.loss.series[0].points.map(p => p[1])")
        expected = [e["loss"] for e in trainer.performance_tracker.events("step")]
        np.testing.assert_allclose(step_losses, expected, rtol=1e-12)
        assert severe_console_messages(driver) == []
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
        width, height = struct.unpack(">II", SCREENSHOT.read_bytes()[16:24])
        assert (width, height) == tuple(driver.execute_script(
            "return [window.innerWidth * devicePixelRatio, window.innerHeight * "
            "devicePixelRatio]"))
    finally:
        driver.get("about:blank")  # leave the page before its server stops
        gate.set()
        thread.join(60)
        trainer.close()
    assert trainer.dashboard is None


def _record(store_root: Path, name: str, seed: int) -> str:
    """An exact (shots=None) classification run written to the store by its recorder."""
    cfg = TrainingConfig(epochs=2, batch_size=8, seed=seed, learning_rate=0.1)
    trainer = QuantumTrainer(cfg)
    with RunStore(store_root) as store:
        run = store.create_run(name, {"training": {"seed": seed}})
    recorder = RunRecorder(store_root, run.id, trainer.performance_tracker)
    model = QuantumModel.from_config(cfg, 4, 2, task="classification")
    trainer.fit(model, blobs(16, seed), blobs(8, seed + 10))
    recorder.close("completed")
    return run.id


def test_store_runs_are_listed_compared_and_honest_about_missing_data(driver: Any,
                                                                    tmp_path: Path) -> None:
    from q_store.dashboard import DashboardServer, StoreSource, create_app

    ids = [_record(tmp_path, f"exact-{s}", s) for s in (1, 2)]
    server = DashboardServer(create_app(StoreSource(tmp_path), poll=0.1), port=0)
    server.start()
    try:
        driver.get_log("browser")  # only this page's messages count below
        driver.get(server.url)
        wait_for(lambda: driver.execute_script(
            "return window.qstore.status === 'completed' && "
            "window.qstore.charts.loss.pointCount() > 0"), 60, "a stored run on the page")
        names = driver.execute_script(
            "return [...document.querySelectorAll('#runs .run-name')].map(a => a.textContent)")
        assert names == ["exact-2", "exact-1"]  # newest first
        points, empty = driver.execute_script(POINTS_JS), driver.execute_script(EMPTY_JS)
        # exact expectation values: no shots, no variance estimate, a fixed circuit
        for chart, message in (("variance", "adaptive shot allocator"),
                               ("shots", "exact expectation values"),
                               ("complexity", "uses neither")):
            assert points[chart] == 0
            assert empty[chart].startswith("no data for this run") and message in empty[chart]
        assert points["circuits"] > 0 and points["cost"] > 0 and points["backends"] == 1
        boxes = driver.find_elements("css selector", "#runs input[type=checkbox]")
        driver.execute_script("window.__rows = [...document.querySelectorAll('#runs li')]")
        time.sleep(4.5)  # at least two of the page's 2 s list refreshes
        # rows are updated in place: what a user is about to click is never replaced
        assert driver.execute_script(
            "const now = [...document.querySelectorAll('#runs li')];"
            "return now.length === 2 && now.every((li, i) => li === window.__rows[i])")
        for box in boxes:
            box.click()
        driver.find_element("id", "compare-button").click()
        compared = wait_for(lambda: driver.execute_script(
            "const s = window.qstore.charts.compare_loss.series;"
            "return s.length === 2 && s.every(x => x.points.length > 0) ? "
            "s.map(x => x.points.length) : null"), 30, "two runs overlaid")
        with RunStore(tmp_path) as store:
            assert compared == [len(store.metrics(i, "step")["loss"]) for i in ids]
        assert severe_console_messages(driver) == []
    finally:
        driver.get("about:blank")
        server.stop()
