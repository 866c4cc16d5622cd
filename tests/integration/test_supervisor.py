"""Lifecycle automation: restart policies with backoff, TTL actions, idle pause, events."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from tests.conftest import Daemon, side_daemon

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fast(server: Daemon) -> Iterator[Daemon]:
    """A second daemon with a short restart backoff cap, so crash loops run quickly."""
    with side_daemon(server, "fast", CORRAL_RESTART_BACKOFF_CAP="0.2",
                     CORRAL_SUPERVISE_INTERVAL="0.1") as daemon:  # fmt: skip
        yield daemon


def wait_for(check: Callable[[], object], timeout: float = 10, every: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def get(http: httpx.Client, wid: str) -> dict:
    return http.get(f"/v1/workspaces/{wid}").json()


def test_killing_main_process_50_times_gets_it_back_50_times(
    fast: Daemon, unique_name: str
) -> None:
    with fast.http() as http:
        ws = http.post(
            "/v1/workspaces",
            json={"name": unique_name, "command": "sleep 100000", "restart": "always"},
        ).json()
        wid = ws["id"]
        for i in range(50):
            wait_for(
                lambda i=i: (
                    get(http, wid)["state"] == "running" and get(http, wid)["restart_count"] == i
                )
            )
            killed = http.post(
                f"/v1/workspaces/{wid}/exec",
                json={"command": "kill -9 $(cat /proc/1/task/1/children)"},
            )
            assert killed.status_code in (200, 409), killed.text
        current = wait_for(lambda: (w := get(http, wid))["restart_count"] == 50 and w, 30)
        assert isinstance(current, dict)
        assert current["state"] == "running" and current["last_exit_code"] == 137
        assert current["crash_loop"] is True
        events = http.get("/v1/events", params={"workspace": wid, "type": "restart"}).json()
        assert len(events["events"]) == 50
        assert http.get("/v1/health").status_code == 200


def test_on_failure_gives_up_after_max_retries(fast: Daemon, unique_name: str) -> None:
    with fast.http() as http:
        ws = http.post(
            "/v1/workspaces",
            json={
                "name": unique_name,
                "command": "exit 3",
                "restart": "on-failure",
                "max_retries": 2,
            },
        ).json()
        current = wait_for(lambda: (w := get(http, ws["id"]))["state"] == "failed" and w)
        assert isinstance(current, dict)
        assert current["restart_count"] == 2 and current["last_exit_code"] == 3
        assert "gave up" in current["error"]
        types = [
            e["type"]
            for e in http.get("/v1/events", params={"workspace": ws["id"]}).json()["events"]
        ]
        assert "crash_loop" not in types or types.count("restart") >= 3
        assert "gave_up" in types


def test_on_failure_does_not_restart_success(fast: Daemon, unique_name: str) -> None:
    with fast.http() as http:
        ws = http.post(
            "/v1/workspaces",
            json={"name": unique_name, "command": "exit 0", "restart": "on-failure"},
        ).json()
        wait_for(lambda: get(http, ws["id"])["state"] == "stopped")
        time.sleep(0.5)
        assert get(http, ws["id"])["restart_count"] == 0


@pytest.mark.parametrize("action", ["pause", "stop"])
def test_ttl_on_expire_actions(http: httpx.Client, unique_name: str, action: str) -> None:
    ws = http.post(
        "/v1/workspaces", json={"name": unique_name, "ttl_seconds": 1, "on_expire": action}
    ).json()
    expected = "paused" if action == "pause" else "stopped"
    started = time.monotonic()
    wait_for(lambda: get(http, ws["id"])["state"] == expected, 5)
    assert time.monotonic() - started < 3, "TTL action took too long"
    assert get(http, ws["id"])["expires_at"] is None
    http.delete(f"/v1/workspaces/{ws['id']}")


def test_set_timeout_extends_and_shortens(http: httpx.Client, unique_name: str) -> None:
    ws = http.post("/v1/workspaces", json={"name": unique_name, "ttl_seconds": 2}).json()
    extended = http.post(f"/v1/workspaces/{ws['id']}/timeout", json={"ttl_seconds": 60}).json()
    assert extended["expires_at"] > ws["expires_at"]
    time.sleep(2.5)
    assert get(http, ws["id"])["state"] == "running"
    http.post(f"/v1/workspaces/{ws['id']}/timeout", json={"ttl_seconds": 1})
    wait_for(lambda: get(http, ws["id"])["state"] == "destroyed", 5)


def test_paused_time_does_not_count_when_asked(http: httpx.Client, unique_name: str) -> None:
    ws = http.post(
        "/v1/workspaces", json={"name": unique_name, "ttl_seconds": 2, "ttl_counts_paused": False}
    ).json()
    http.post(f"/v1/workspaces/{ws['id']}/pause")
    time.sleep(2.5)
    assert get(http, ws["id"])["state"] == "paused", "paused time was counted"
    resumed = http.post(f"/v1/workspaces/{ws['id']}/resume").json()
    assert resumed["expires_at"] > ws["expires_at"]
    wait_for(lambda: get(http, ws["id"])["state"] == "destroyed", 5)


def test_ttl_survives_daemon_restart(server: Daemon, unique_name: str) -> None:
    with server.http() as http:
        ws = http.post("/v1/workspaces", json={"name": unique_name, "ttl_seconds": 3}).json()
    server.kill9()
    server.start()
    with server.http() as http:
        assert get(http, ws["id"])["expires_at"] == ws["expires_at"]
        wait_for(lambda: get(http, ws["id"])["state"] == "destroyed", 8)


def test_idle_pause_and_transparent_resume(http: httpx.Client, unique_name: str) -> None:
    ws = http.post("/v1/workspaces", json={"name": unique_name, "idle_timeout_seconds": 1}).json()
    wait_for(lambda: get(http, ws["id"])["state"] == "paused", 6)
    assert get(http, ws["id"])["paused_reason"] == "idle"
    started = time.perf_counter()
    out = http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": ["echo", "back"]})
    took_ms = (time.perf_counter() - started) * 1000
    assert out.json()["stdout"] == "back\n" and took_ms < 1000
    assert get(http, ws["id"])["state"] == "running"
    types = [
        e["type"] for e in http.get("/v1/events", params={"workspace": ws["id"]}).json()["events"]
    ]
    assert "idle_pause" in types and "resumed" in types
    http.delete(f"/v1/workspaces/{ws['id']}")


def test_busy_workspace_is_not_idle_paused(http: httpx.Client, unique_name: str) -> None:
    ws = http.post(
        "/v1/workspaces",
        json={"name": unique_name, "idle_timeout_seconds": 1, "command": "while :; do :; done"},
    ).json()
    time.sleep(2.5)
    assert get(http, ws["id"])["state"] == "running"
    http.delete(f"/v1/workspaces/{ws['id']}")


def test_events_stream_live(server: Daemon, http: httpx.Client, unique_name: str) -> None:
    received: list[dict] = []
    ready = threading.Event()

    def follow() -> None:
        with httpx.Client(base_url=server.url, headers=server.headers(), timeout=30) as c:
            with c.stream("GET", "/v1/events/stream") as r:
                ready.set()
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:]))
                        if any(
                            e["type"] == "state" and e["data"]["after"] == "destroyed"
                            for e in received
                        ):
                            return

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.2)
    ws = http.post("/v1/workspaces", json={"name": unique_name}).json()
    http.delete(f"/v1/workspaces/{ws['id']}")
    thread.join(10)
    mine = [e for e in received if e["workspace_id"] == ws["id"]]
    assert [e["data"]["after"] for e in mine if e["type"] == "state"] == [
        "running",
        "destroying",
        "destroyed",
    ]
