"""A capped writable layer (`rootfs_mib`): attacked from inside, it holds; the workspace,
its neighbours and the daemon keep working; stop/start, a daemon crash and a fork keep its
files; destroy leaves no image, loop device or mount behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon

from corral.drivers import linux
from corral.drivers.storage.loop import backing_files

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
CAP_MIB = 48


def run(http: httpx.Client, wid: str, command: str) -> dict[str, Any]:
    response = http.post(f"/v1/workspaces/{wid}/exec", json={"command": command, "timeout": 60})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def layer_image(server: Daemon, wid: str) -> Path:
    return server.state_dir / "workspaces" / wid / "layer.img"


def traces(server: Daemon, wid: str) -> list[str]:
    """What of the workspace's layer is still on the host: files, loop devices, mounts."""
    base = server.state_dir / "workspaces" / wid
    found = [str(base)] if base.exists() else []
    found += [dev for dev, backing in backing_files().items() if backing.startswith(str(base))]
    return found + linux.mountpoints_under(str(base))


@pytest.fixture
def capped(http: httpx.Client, unique_name: str) -> dict[str, Any]:
    response = http.post("/v1/workspaces", json={"name": unique_name, "rootfs_mib": CAP_MIB,
                                                 "command": "sleep 100000"})  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_writes_past_the_cap_fail_inside_and_nothing_else_does(
    server: Daemon, http: httpx.Client, capped: dict[str, Any], unique_name: str
) -> None:
    wid = capped["id"]
    assert capped["rootfs_mib"] == CAP_MIB
    image = layer_image(server, wid)
    assert image.stat().st_size == CAP_MIB * MIB
    filled = run(http, wid, "dd if=/dev/zero of=/var/fill bs=1M count=200 status=none")
    assert filled["exit_code"] != 0 and "No space left" in filled["stderr"], filled
    huge = run(http, wid, "fallocate -l 10G /tmp/huge")  # instant on an uncapped layer
    assert huge["exit_code"] != 0, huge
    written = run(http, wid, "du -sm /var/fill")["stdout"].split()[0]
    assert int(written) <= CAP_MIB
    # The host holds no more than the cap for it (the image is sparse).
    assert image.stat().st_blocks * 512 <= CAP_MIB * MIB
    # The workspace still works, and once it frees space it can write again.
    again = run(http, wid, "rm /var/fill; echo ok > /var/small && cat /var/small")
    assert again["stdout"] == "ok\n"
    # A neighbour (uncapped) and the daemon are unaffected.
    other = http.post("/v1/workspaces", json={"name": f"{unique_name}-n"}).json()
    assert run(http, other["id"], "echo fine")["stdout"] == "fine\n"
    http.delete(f"/v1/workspaces/{other['id']}")
    assert http.delete(f"/v1/workspaces/{wid}").json()["state"] == "destroyed"
    assert not traces(server, wid)


def test_files_survive_stop_start_a_daemon_crash_and_a_fork(
    server: Daemon, http: httpx.Client, capped: dict[str, Any], unique_name: str
) -> None:
    wid = capped["id"]
    run(http, wid, "echo kept > /root/note")
    assert http.post(f"/v1/workspaces/{wid}/stop").json()["state"] == "stopped"
    read = http.get(f"/v1/workspaces/{wid}/files", params={"path": "/root/note"})
    assert read.status_code == 200 and read.text == "kept\n"  # while stopped, through the API
    assert http.post(f"/v1/workspaces/{wid}/start").json()["state"] == "running"
    server.kill9()
    server.start()
    with server.http() as again:
        assert run(again, wid, "cat /root/note")["stdout"] == "kept\n"
        forked = again.post(f"/v1/workspaces/{wid}/fork", json={"name": f"{unique_name}-f"})
        assert forked.status_code == 201, forked.text
        fork = forked.json()
        assert fork["rootfs_mib"] == CAP_MIB
        assert run(again, fork["id"], "cat /root/note")["stdout"] == "kept\n"
        full = run(again, fork["id"], "dd if=/dev/zero of=/var/fill bs=1M count=200 status=none")
        assert "No space left" in full["stderr"]  # the fork has a cap of its own
        for ref in (fork["id"], wid):
            assert again.delete(f"/v1/workspaces/{ref}").json()["state"] == "destroyed"
    assert not traces(server, wid) and not traces(server, fork["id"])


def test_uncapped_by_default(http: httpx.Client, server: Daemon, unique_name: str) -> None:
    ws = http.post("/v1/workspaces", json={"name": unique_name}).json()
    assert ws["rootfs_mib"] is None
    assert not layer_image(server, ws["id"]).exists()
    assert os.path.isdir(server.state_dir / "workspaces" / ws["id"] / "upper")
    http.delete(f"/v1/workspaces/{ws['id']}")


@pytest.mark.parametrize("value", [0, 8, -5, "big"])
def test_bad_caps_are_refused(http: httpx.Client, unique_name: str, value: object) -> None:
    response = http.post("/v1/workspaces", json={"name": unique_name, "rootfs_mib": value})
    assert response.status_code == 422 and "rootfs_mib" in response.text
