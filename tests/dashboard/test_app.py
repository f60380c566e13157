"""The dashboard over HTTP, against a real uvicorn server on a free loopback port: endpoints,
the event stream (in order, while a run is live, resumable), runs and comparison JSON,
loopback-only serving, and no secret in any response."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time

import httpx
import pytest

from q_store.dashboard import DashboardServer, EventHub, StoreSource, create_app, is_loopback
from q_store.errors import ConfigError
from q_store.execution.tracker import PerformanceTracker
from q_store.store import RunStore
from tests.dashboard.serving import served, sse

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")


def live_hub() -> tuple[PerformanceTracker, EventHub, str]:
    tracker, hub = PerformanceTracker(), EventHub()
    hub.attach(tracker)
    return tracker, hub, hub.start_run("live run")


def test_page_static_files_and_json_endpoints() -> None:
    tracker, hub, run = live_hub()
    for i in range(1, 4):
        tracker.emit("step", epoch=1, step=i, loss=1.0 / i)
    with served(hub) as url:
        page = httpx.get(url)
        assert page.status_code == 200 and "static/dashboard.js" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
        for name in ("qchart.js", "dashboard.js", "style.css"):
            r = httpx.get(url + "static/" + name)
            assert r.status_code == 200 and r.headers["x-content-type-options"] == "nosniff"
        assert httpx.get(url + "api/info").json()["mode"] == "live"
        (listed,) = httpx.get(url + "api/runs").json()["runs"]
        assert (listed["id"], listed["name"], listed["status"]) == (run, "live run", "running")
        body = httpx.get(url + f"api/runs/{run}/events", params={"after": 1, "limit": 1}).json()
        assert body["status"] == "running"
        assert [(e["_id"], e["step"]) for e in body["events"]] == [(2, 2)]
        assert httpx.get(url + f"api/runs/{run}/events", params={"after": -1}).status_code == 400
        assert httpx.get(url + f"api/runs/{run}/events", params={"limit": "x"}).status_code == 400
        missing = httpx.get(url + "api/runs/nope/stream")
        assert missing.status_code == 404 and "no run 'nope'" in missing.json()["error"]
        assert httpx.get(url + f"api/compare?run={run}").status_code == 400


def test_stream_delivers_a_live_runs_events_in_order_then_ends() -> None:
    tracker, hub, run = live_hub()
    n = 60

    def train() -> None:
        for i in range(n):
            tracker.emit("step", epoch=1, step=i + 1, loss=1.0 / (i + 1))
            if i % 10 == 0:
                time.sleep(0.05)  # several stream messages, some while nothing is new
        hub.end_run("completed")

    with served(hub) as url:
        producer = threading.Thread(target=train)
        statuses, steps, ids = [], [], []
        for event, ident, data in sse(url + f"api/runs/{run}/stream"):
            if event == "status":
                statuses.append(data["status"])
                if len(statuses) == 1:
                    producer.start()  # the stream is open: the run produces now
            elif event == "events":
                steps += [e["step"] for e in data]
                ids += [e["_id"] for e in data]
                assert int(ident) == data[-1]["_id"]  # the SSE id: where a reconnect resumes
        producer.join()
    assert steps == list(range(1, n + 1))
    assert ids == sorted(ids) and len(set(ids)) == n
    assert statuses == ["running", "completed"]


def test_a_reconnecting_browser_continues_after_its_last_event_id() -> None:
    tracker, hub, run = live_hub()
    for i in range(10):
        tracker.emit("job", i=i)
    hub.end_run("completed")
    with served(hub) as url:
        first = [e for kind, _, d in sse(url + f"api/runs/{run}/stream") if kind == "events"
                 for e in d]
        again = [e["i"] for kind, _, d in sse(url + f"api/runs/{run}/stream",
                                               headers={"Last-Event-ID": str(first[6]["_id"])})
                 if kind == "events" for e in d]
    assert [e["i"] for e in first] == list(range(10)) and again == [7, 8, 9]


def test_store_runs_followed_while_written_listed_and_compared(tmp_path) -> None:
    with RunStore(tmp_path) as store:
        a = store.create_run("a", {})
        b = store.create_run("b", {})
        for run, scale in ((a, 1.0), (b, 2.0)):
            store.write_events(run.id, [
                {"t": float(s), "event": "step", "epoch": 1, "step": s, "loss": scale / s}
                for s in (1, 2, 3)] + [{"t": 4.0, "event": "epoch", "epoch": 1, "val_loss": 0.1}])
        store.finish(a.id, "completed")
    source = StoreSource(tmp_path)

    def writer() -> None:  # b is still training: another process writes it
        with RunStore(tmp_path) as store:
            for s in (4, 5):
                time.sleep(0.1)
                store.write_events(b.id, [{"t": 9.0, "event": "step", "step": s, "loss": 0.0}])
            store.finish(b.id, "completed")

    with served(source, poll=0.05) as url:
        assert [r["id"] for r in httpx.get(url + "api/runs").json()["runs"]] == [b.id, a.id]
        assert httpx.get(url + "api/info").json()["mode"] == "store"
        thread = threading.Thread(target=writer)
        thread.start()
        seen = [e.get("step") for kind, _, d in sse(url + f"api/runs/{b.id}/stream")
                if kind == "events" for e in d]
        thread.join()
        assert seen == [1, 2, 3, None, 4, 5]
        body = httpx.get(url + "api/compare", params=[("run", a.id), ("run", "b")]).json()
    by_name = {r["name"]: r for r in body["runs"]}
    assert by_name["a"]["curves"]["step"]["loss"] == [[1, 1.0], [2, 0.5], [3, 1 / 3]]
    assert by_name["b"]["curves"]["step"]["loss"][:3] == [[1, 2.0], [2, 1.0], [3, 2 / 3]]
    assert by_name["b"]["curves"]["epoch"]["val_loss"] == [[1, 0.1]]
    with RunStore(tmp_path) as store:
        assert by_name["b"]["curves"]["step"]["loss"] == [list(p) for p in
                                                           store.metrics(b.id)["loss"]]


def test_serves_loopback_only_unless_told() -> None:
    hub = EventHub()
    server = DashboardServer(create_app(hub), port=0)
    try:
        assert server._sock.getsockname()[0] == "127.0.0.1"
        assert server.url.startswith("http://127.0.0.1:")
    finally:
        server.stop()
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "192.168.1.5", "::", "example.com"):
        assert not is_loopback(host)
        with pytest.raises(ConfigError, match=r"not a loopback address.*--allow-remote"):
            DashboardServer(create_app(hub), host=host, port=0, exposes="every run in X")


def test_other_host_headers_are_refused() -> None:
    """A page from another site that rebinds its name to 127.0.0.1 gets nothing."""
    _, hub, _ = live_hub()
    with served(hub) as url:
        assert httpx.get(url + "api/runs").status_code == 200
        assert httpx.get(url + "api/runs", headers={"Host": "localhost"}).status_code == 200
        assert httpx.get(url + "api/runs", headers={"Host": "evil.example"}).status_code == 400


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port}.*choose another port"):
            DashboardServer(create_app(EventHub()), port=port)
    with pytest.raises(ConfigError, match="0 to 65535"):
        DashboardServer(create_app(EventHub()), port=70000)


def test_secrets_never_reach_a_response(tmp_path) -> None:
    secret = "sk-SECRET-0123456789"
    tracker, hub, run = live_hub()
    tracker.emit("job", backend="ionq", api_key=secret, token=secret,
                 url=f"https://user:{secret}@api.ionq.co/v0.3/jobs")
    hub.end_run("completed")
    with RunStore(tmp_path) as store:
        stored = store.create_run("s", {})
        store.finish(stored.id, "completed")
    with sqlite3.connect(tmp_path / "runs.db") as db:  # a config written by something else
        db.execute("UPDATE runs SET config = ?, summary = ? WHERE id = ?",
                   (json.dumps({"backend": {"api_key": secret, "password": secret}}),
                    json.dumps({"ionq_url": f"https://u:{secret}@x.io"}), stored.id))
        db.execute("INSERT INTO events (run_id, t, kind, data) VALUES (?, 1, 'job', ?)",
                   (stored.id, json.dumps({"event": "job", "secret": secret})))
    bodies = []
    with served(hub) as url:
        bodies += [httpx.get(url + p).text for p in (
            "api/runs", f"api/runs/{run}", f"api/runs/{run}/events")]
        bodies += [json.dumps(d) for _, _, d in sse(url + f"api/runs/{run}/stream")]
    with served(StoreSource(tmp_path)) as url:
        bodies += [httpx.get(url + p).text for p in (
            "api/runs", f"api/runs/{stored.id}", f"api/runs/{stored.id}/events")]
        bodies += [json.dumps(d) for _, _, d in sse(url + f"api/runs/{stored.id}/stream")]
    assert all(secret not in b for b in bodies)
    assert any('"backend":"ionq"' in b for b in bodies)  # the events themselves were served
