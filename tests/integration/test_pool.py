"""Warm pools: a matching create is served from pre-created sandboxes, with the caller's
spec applied at claim (name, env, limits, TTL, labels); the pool refills itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon, free_port, leaks

pytestmark = pytest.mark.integration


def wait_for(check, timeout: float = 20):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met")


def pools(http: httpx.Client) -> dict:
    return http.get("/v1/admin/pools").json()  # type: ignore[no-any-return]


def ready(http: httpx.Client) -> int:
    return int(pools(http)["pools"][0]["ready"])


@pytest.fixture(scope="module")
def pooled(server: Daemon) -> Iterator[Daemon]:
    daemon = Daemon(
        state_dir=server.state_dir.parent / "pool-state",
        run_dir=Path(f"{server.run_dir}-pool"),
        port=free_port(),
    )
    daemon.extra_env = {"CORRAL_WARM_POOL": "host=3"}
    daemon.start()
    yield daemon
    with daemon.http() as http:
        for ws in http.get("/v1/workspaces").json()["workspaces"]:
            http.delete(f"/v1/workspaces/{ws['id']}")
        http.put("/v1/admin/pools/host", json={"size": 0})
        wait_for(lambda: ready(http) == 0)
    daemon.stop()
    assert not leaks(daemon), leaks(daemon)


def test_claim_applies_the_callers_spec(pooled: Daemon) -> None:
    with pooled.http() as http:
        wait_for(lambda: ready(http) == 3)
        before = pools(http)["claims"]
        started = time.perf_counter()
        created = http.post(
            "/v1/workspaces",
            json={
                "name": "claimed",
                "env": {"GREETING": "hi"},
                "memory_mib": 64,
                "pids": 32,
                "ttl_seconds": 30,
                "labels": {"kind": "sandbox"},
            },
        )
        took_ms = (time.perf_counter() - started) * 1000
        assert created.status_code == 201, created.text
        ws = created.json()
        assert pools(http)["claims"] == before + 1
        print(f"claim through the API: {took_ms:.1f} ms")
        assert ws["name"] == "claimed" and ws["labels"] == {"kind": "sandbox"}
        assert ws["expires_at"] is not None and ws["memory_mib"] == 64
        out = http.post(
            f"/v1/workspaces/{ws['id']}/exec",
            json={
                "command": "echo $GREETING; hostname; "
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max "
                "2>/dev/null || cat /sys/fs/cgroup/memory.max"
            },
        )
        lines = out.json()["stdout"].split()
        assert lines[0] == "hi" and lines[1] == "claimed"
        assert lines[2] == str(64 << 20)
        # The memory limit holds: a hog is killed.
        hog = http.post(
            f"/v1/workspaces/{ws['id']}/exec",
            json={"command": ["python3", "-c", "x = bytearray(200 << 20)"]},
        )
        assert hog.json()["exit_code"] != 0
        # The pool refills behind the claim.
        wait_for(lambda: ready(http) == 3)
        assert (
            http.get("/v1/workspaces", params={"label": "kind=sandbox"}).json()["workspaces"][0][
                "id"
            ]
            == ws["id"]
        )
        http.delete(f"/v1/workspaces/{ws['id']}")


def test_specs_a_pool_cannot_serve_are_created_cold(pooled: Daemon) -> None:
    with pooled.http() as http:
        wait_for(lambda: ready(http) == 3)
        before = pools(http)["claims"]
        ws = http.post("/v1/workspaces", json={"name": "with-command", "command": "sleep 100"})
        assert ws.status_code == 201 and pools(http)["claims"] == before
        http.delete(f"/v1/workspaces/{ws.json()['id']}")


def test_name_conflict_keeps_the_pool_whole(pooled: Daemon) -> None:
    with pooled.http() as http:
        wait_for(lambda: ready(http) == 3)
        first = http.post("/v1/workspaces", json={"name": "twice"})
        assert first.status_code == 201
        second = http.post("/v1/workspaces", json={"name": "twice"})
        assert second.status_code == 409
        wait_for(lambda: ready(http) == 3)
        http.delete(f"/v1/workspaces/{first.json()['id']}")


def test_pooled_sandboxes_are_invisible_and_survive_a_daemon_crash(pooled: Daemon) -> None:
    with pooled.http() as http:
        wait_for(lambda: ready(http) == 3)
        assert http.get("/v1/workspaces").json()["workspaces"] == []
    pooled.kill9()
    pooled.start()
    with pooled.http() as http:
        wait_for(lambda: ready(http) == 3)
        ws = http.post("/v1/workspaces", json={"name": "after-crash"}).json()
        out = http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": ["echo", "ok"]})
        assert out.json()["stdout"] == "ok\n"
        http.delete(f"/v1/workspaces/{ws['id']}")


def test_pooled_sandboxes_of_a_pool_turned_off_are_retired_at_start(server: Daemon) -> None:
    """Owned by nobody, a pooled sandbox left running by a daemon that comes back without
    that pool would live on unseen: the next start destroys it."""
    daemon = Daemon(state_dir=server.state_dir.parent / "retire-state",
                    run_dir=Path(f"{server.run_dir}-retire"), port=free_port())  # fmt: skip
    daemon.extra_env = {"CORRAL_WARM_POOL": "host=2"}
    daemon.start()
    try:
        with daemon.http() as http:
            wait_for(lambda: ready(http) == 2)
        daemon.stop()  # the pooled sandboxes keep running, as every workspace does
        assert len(list((daemon.run_dir / "runtime").iterdir())) == 2
        daemon.extra_env = {"CORRAL_WARM_POOL": ""}
        daemon.start()
        with daemon.http() as http:
            assert http.get("/v1/admin/pools").status_code in (200, 409)
    finally:
        daemon.stop()
    assert not leaks(daemon), leaks(daemon)
