"""Workspace lifecycle against the real daemon: create, get, list, pause, stop, destroy."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon, leaks

pytestmark = pytest.mark.integration


def test_create_get_list_destroy(http: httpx.Client, unique_name: str) -> None:
    created = http.post(
        "/v1/workspaces",
        json={"name": unique_name, "labels": {"team": "a"}, "env": {"GREETING": "hi"}},
    )
    assert created.status_code == 201, created.text
    ws = created.json()
    assert ws["state"] == "running" and ws["env_names"] == ["GREETING"]
    assert http.get(f"/v1/workspaces/{ws['id']}").json()["name"] == unique_name
    assert http.get(f"/v1/workspaces/{unique_name}").json()["id"] == ws["id"]
    listed = http.get("/v1/workspaces", params={"label": "team=a"}).json()["workspaces"]
    assert ws["id"] in [w["id"] for w in listed]
    assert not http.get("/v1/workspaces", params={"label": "team=b"}).json()["workspaces"]
    out = http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": "echo $GREETING"})
    assert out.json()["stdout"] == "hi\n"
    gone = http.delete(f"/v1/workspaces/{ws['id']}")
    assert gone.status_code == 200 and gone.json()["state"] == "destroyed"
    assert http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "destroyed"
    assert ws["id"] not in [w["id"] for w in http.get("/v1/workspaces").json()["workspaces"]]
    # The name is free again.
    again = http.post("/v1/workspaces", json={"name": unique_name})
    assert again.status_code == 201
    http.delete(f"/v1/workspaces/{again.json()['id']}")


def test_pause_freezes_processes_and_resume_continues(
    server: Daemon, http: httpx.Client, workspace: dict
) -> None:
    wid = workspace["id"]
    http.post(
        f"/v1/workspaces/{wid}/exec",
        json={
            "command": "nohup sh -c 'while :; do date +%s%N >> /tmp/tick; sleep 0.05; done' "
            ">/dev/null 2>&1 &"
        },
    )
    time.sleep(0.3)
    assert http.post(f"/v1/workspaces/{wid}/pause").json()["state"] == "paused"
    # Read from the host side (any API call would resume the workspace).
    tick = server.state_dir / "workspaces" / wid / "upper" / "tmp" / "tick"
    before = tick.read_bytes()
    time.sleep(0.4)
    assert tick.read_bytes() == before, "a paused workspace kept running"
    assert http.get(f"/v1/workspaces/{wid}").json()["state"] == "paused"
    assert http.post(f"/v1/workspaces/{wid}/resume").json()["state"] == "running"
    time.sleep(0.3)
    assert len(tick.read_bytes()) > len(before)


def test_exec_resumes_a_paused_workspace_transparently(http: httpx.Client, workspace: dict) -> None:
    wid = workspace["id"]
    http.post(f"/v1/workspaces/{wid}/pause")
    out = http.post(f"/v1/workspaces/{wid}/exec", json={"command": "echo awake"})
    assert out.status_code == 200 and out.json()["stdout"] == "awake\n"
    assert http.get(f"/v1/workspaces/{wid}").json()["state"] == "running"
    events = http.get("/v1/events", params={"workspace": wid, "type": "resumed"}).json()
    assert events["events"] and events["events"][-1]["data"]["reason"] == "exec"


def test_stop_start_keeps_files(http: httpx.Client, workspace: dict) -> None:
    wid = workspace["id"]
    http.put(f"/v1/workspaces/{wid}/files", params={"path": "/srv/keep.txt"}, content=b"kept")
    assert http.post(f"/v1/workspaces/{wid}/stop").json()["state"] == "stopped"
    refused = http.post(f"/v1/workspaces/{wid}/exec", json={"command": "true"})
    assert refused.status_code == 409
    assert http.post(f"/v1/workspaces/{wid}/start").json()["state"] == "running"
    out = http.post(f"/v1/workspaces/{wid}/exec", json={"command": ["cat", "/srv/keep.txt"]})
    assert out.json()["stdout"] == "kept"


def test_main_command_logs(http: httpx.Client, unique_name: str) -> None:
    ws = http.post(
        "/v1/workspaces",
        json={"name": unique_name, "command": "echo started; echo oops >&2; sleep 300"},
    ).json()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = http.get(f"/v1/workspaces/{ws['id']}/logs").text
        if "oops" in text:
            break
        time.sleep(0.05)
    assert "started" in text and "oops" in text
    assert http.get(f"/v1/workspaces/{ws['id']}/logs", params={"tail": 1}).text.strip() == "oops"
    http.delete(f"/v1/workspaces/{ws['id']}")


def test_main_command_exit_is_recorded_and_restart_always(
    http: httpx.Client, unique_name: str
) -> None:
    ws = http.post(
        "/v1/workspaces",
        json={"name": unique_name, "command": "echo run; exit 3", "restart": "always"},
    ).json()
    deadline = time.monotonic() + 10
    current = ws
    while time.monotonic() < deadline:
        current = http.get(f"/v1/workspaces/{ws['id']}").json()
        if current["restart_count"] >= 2:
            break
        time.sleep(0.1)
    assert current["restart_count"] >= 2
    assert current["last_exit_code"] == 3
    assert http.get(f"/v1/workspaces/{ws['id']}/logs").text.count("run") >= 2
    http.delete(f"/v1/workspaces/{ws['id']}")


def test_restart_never_stops(http: httpx.Client, unique_name: str) -> None:
    ws = http.post("/v1/workspaces", json={"name": unique_name, "command": ["true"]}).json()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        current = http.get(f"/v1/workspaces/{ws['id']}").json()
        if current["state"] == "stopped":
            break
        time.sleep(0.05)
    assert current["state"] == "stopped" and current["last_exit_code"] == 0
    assert current["restart_count"] == 0
    http.delete(f"/v1/workspaces/{ws['id']}")


def test_ttl_destroys(http: httpx.Client, unique_name: str) -> None:
    ws = http.post("/v1/workspaces", json={"name": unique_name, "ttl_seconds": 1}).json()
    assert ws["expires_at"] is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "destroyed":
            break
        time.sleep(0.1)
    assert http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "destroyed"


def test_failed_create_rolls_back(server: Daemon, http: httpx.Client, unique_name: str) -> None:
    # An image directory whose rootfs cannot host the init: the runtime fails mid-create.
    broken = server.state_dir / "images" / "broken" / "rootfs"
    broken.mkdir(parents=True)
    (broken / ".corral").write_text("a file where the init's mount point must be a directory")
    try:
        response = http.post("/v1/workspaces", json={"name": unique_name, "image": "broken"})
        assert response.status_code == 500
        assert response.json()["error"] == "runtime_failure"
        ids = [w for w in leaks(server).get("workspace_dirs", [])]
        live = {w["id"] for w in http.get("/v1/workspaces").json()["workspaces"]}
        assert set(ids) <= live, "a failed create left its directory behind"
        assert not (set(leaks(server).get("netns", [])) - live)
        assert not (set(leaks(server).get("containers", [])) - live)
    finally:
        import shutil

        shutil.rmtree(Path(broken).parent)
