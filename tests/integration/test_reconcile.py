"""Crash safety: kill -9 of the daemon never kills or loses a workspace."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def test_kill9_daemon_keeps_workspaces(server: Daemon, unique_name: str) -> None:
    with server.http() as http:
        running = http.post("/v1/workspaces", json={"name": f"{unique_name}-r"}).json()
        paused = http.post("/v1/workspaces", json={"name": f"{unique_name}-p"}).json()
        http.post(
            f"/v1/workspaces/{running['id']}/exec", json={"command": "sleep 1000 >/dev/null 2>&1 &"}
        )
        before = http.post(
            f"/v1/workspaces/{running['id']}/exec", json={"command": "pgrep -x sleep"}
        ).json()["stdout"]
        http.post(f"/v1/workspaces/{paused['id']}/pause")
    server.kill9()
    server.start()
    with server.http() as http:
        ws = http.get(f"/v1/workspaces/{running['id']}").json()
        assert ws["state"] == "running"
        after = http.post(
            f"/v1/workspaces/{running['id']}/exec", json={"command": "pgrep -x sleep"}
        ).json()["stdout"]
        assert after == before, "the workspace's processes did not survive the daemon crash"
        assert http.get(f"/v1/workspaces/{paused['id']}").json()["state"] == "paused"
        assert http.post(f"/v1/workspaces/{paused['id']}/resume").json()["state"] == "running"
        for ws_id in (running["id"], paused["id"]):
            assert http.delete(f"/v1/workspaces/{ws_id}").json()["state"] == "destroyed"


def test_vanished_container_is_restarted_per_policy(server: Daemon, unique_name: str) -> None:
    import subprocess

    with server.http() as http:
        ws = http.post(
            "/v1/workspaces",
            json={"name": unique_name, "command": "sleep 1000", "restart": "always"},
        ).json()
        server.kill9()
        runtime = ws["runtime"]
        # The container dies while the daemon is down (as in a host reboot).
        subprocess.run(
            [runtime, "--root", str(server.run_dir / "runtime"), "delete", "--force", ws["id"]],
            check=True,
        )
    server.start()
    with server.http() as http:
        current = http.get(f"/v1/workspaces/{ws['id']}").json()
        assert current["state"] == "running" and current["restart_count"] == 1
        out = http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": "echo back"}).json()
        assert out["stdout"] == "back\n"
        http.delete(f"/v1/workspaces/{ws['id']}")


def test_stray_runtime_objects_are_cleaned(server: Daemon) -> None:
    from corral.drivers.network.netns import create_netns

    stray = server.run_dir / "netns" / "deadbeef0000"
    create_netns(stray)
    (server.state_dir / "workspaces" / "deadbeef0001").mkdir(parents=True)
    server.kill9()
    server.start()
    assert not stray.exists()
    assert not (server.state_dir / "workspaces" / "deadbeef0001").exists()
    with server.http() as http:
        assert http.get("/v1/health").status_code == 200


def test_unauthenticated_is_refused(server: Daemon) -> None:
    assert httpx.get(f"{server.url}/v1/workspaces").status_code == 401
    bad = httpx.get(f"{server.url}/v1/workspaces", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["error"] == "unauthorized"


def test_graceful_shutdown_leaves_workspaces_running_unless_asked(
    server: Daemon, unique_name: str
) -> None:
    with server.http() as http:
        ws = http.post("/v1/workspaces", json={"name": unique_name}).json()
        http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": "sleep 1000 >/dev/null &"})
    server.stop()  # SIGTERM: a clean shutdown
    server.start()
    with server.http() as http:
        assert http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "running"
        out = http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": "pgrep -x sleep"})
        assert out.json()["stdout"].strip(), "the workspace's processes did not survive"
    server.stop()
    server.extra_env = {"CORRAL_STOP_ON_EXIT": "1"}
    server.start()
    server.stop()  # this time it stops every workspace on the way out
    server.extra_env = {}
    server.start()
    with server.http() as http:
        assert http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "stopped"
        http.delete(f"/v1/workspaces/{ws['id']}")
