"""Named volumes against the real daemon: read-write to one workspace, read-only to many,
encrypted like disks, outliving the workspaces that used them until deleted."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.test_disks import create, run

from corral.drivers.storage import fscrypt, loop

pytestmark = pytest.mark.integration


def make_volume(http: httpx.Client, name: str, size_mib: int = 32) -> dict:  # type: ignore[type-arg]
    response = http.post("/v1/volumes", json={"name": name, "size_mib": size_mib})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_volume_is_read_write_to_one_read_only_to_many_and_outlives_them(
    server: Daemon, http: httpx.Client, unique_name: str, tmp_path: Path
) -> None:
    volume = make_volume(http, unique_name)
    image = server.state_dir / "disks" / f"vol-{volume['id']}.img"
    data_dir = server.run_dir / "disks" / f"vol-{volume['id']}" / "data"
    assert image.exists() and fscrypt.policy_identifier(str(data_dir)) is not None
    mount = {"name": unique_name, "path": "/mnt/shared"}
    writer = create(http, f"{unique_name}-w", volumes=[mount])
    marker = f"VOLUME-PLAINTEXT-{secrets.token_hex(12)}"
    run(http, writer["id"], f"echo {marker} > /mnt/shared/note; sync")
    # A second writer is refused; readers are welcome, and see the writer's changes live.
    second = http.post("/v1/workspaces", json={"name": f"{unique_name}-w2", "volumes": [mount]})
    assert second.status_code == 409 and "read-write" in second.json()["message"]
    readers = [create(http, f"{unique_name}-r{i}", volumes=[{**mount, "readonly": True}])
               for i in range(2)]  # fmt: skip
    for reader in readers:
        assert run(http, reader["id"], "cat /mnt/shared/note")["stdout"] == f"{marker}\n"
        denied = run(http, reader["id"], "echo x > /mnt/shared/other")
        assert denied["exit_code"] != 0 and "Read-only file system" in denied["stderr"]
    run(http, writer["id"], "echo more >> /mnt/shared/note")
    assert run(http, readers[0]["id"], "tail -1 /mnt/shared/note")["stdout"] == "more\n"
    listed = http.get(f"/v1/volumes/{volume['id']}").json()
    users = sorted((u["workspace_name"], u["readonly"]) for u in listed["attached"])
    assert users == [(f"{unique_name}-{n}", n != "w") for n in ("r0", "r1", "w")]
    # The image holds ciphertext only.
    os.sync()
    assert marker.encode() not in image.read_bytes()
    # Attached: it cannot be deleted. The writer goes: the volume and its data stay, and
    # another workspace may now write.
    assert http.delete(f"/v1/volumes/{volume['id']}").status_code == 409
    http.delete(f"/v1/workspaces/{writer['id']}")
    assert http.get(f"/v1/volumes/{volume['id']}").status_code == 200
    successor = create(http, f"{unique_name}-w3", volumes=[mount])
    assert run(http, successor["id"], "head -1 /mnt/shared/note")["stdout"] == f"{marker}\n"
    # Stop/start and a daemon crash change nothing.
    http.post(f"/v1/workspaces/{successor['id']}/stop")
    server.kill9()
    server.start()
    with server.http() as again:
        again.post(f"/v1/workspaces/{successor['id']}/start")
        assert run(again, successor["id"], "head -1 /mnt/shared/note")["stdout"] == f"{marker}\n"
        for ws in (successor, *readers):
            again.delete(f"/v1/workspaces/{ws['id']}")
        copy = tmp_path / "copy.img"
        shutil.copyfile(image, copy)
        deleted = again.delete(f"/v1/volumes/{volume['id']}")
        assert deleted.status_code == 200, deleted.text
        assert again.get(f"/v1/volumes/{volume['id']}").status_code == 404
    assert not image.exists() and loop.find(image) is None and not data_dir.parent.exists()
    assert marker.encode() not in copy.read_bytes()


def test_volume_requests_are_checked(http: httpx.Client, unique_name: str) -> None:
    volume = make_volume(http, unique_name)
    assert http.post("/v1/volumes", json={"name": unique_name, "size_mib": 32}).status_code == 409
    assert http.post("/v1/volumes", json={"name": "x", "size_mib": 1}).status_code == 422
    body = {"name": f"{unique_name}-a", "volumes": [{"name": "nope", "path": "/m"}]}
    missing = http.post("/v1/workspaces", json=body)
    assert missing.status_code == 404 and "volume" in missing.json()["message"]
    twice = http.post("/v1/workspaces", json={"name": f"{unique_name}-b", "volumes": [
        {"name": unique_name, "path": "/a", "readonly": True},
        {"name": unique_name, "path": "/b", "readonly": True}]})  # fmt: skip
    assert twice.status_code == 422
    assert http.delete(f"/v1/volumes/{volume['id']}").status_code == 200
