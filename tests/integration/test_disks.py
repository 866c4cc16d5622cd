"""Encrypted persistent disks against the real daemon: real ext4 images, loop devices and
fscrypt keys; persistence, quota, cryptographic erasure, master key rotation, crash safety."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon, free_port, leaks, release_disks
from tests.integration.test_crash_safety import crash_at, restart_clean

from corral.drivers.network.bridge import remove_hub
from corral.drivers.storage import fscrypt, loop
from corral.drivers.storage.disks import EncryptedDisks
from corral.secrets import envelope
from corral.secrets.master import parse

pytestmark = pytest.mark.integration

DISK_MIB = 32


def run(http: httpx.Client, ref: str, command: str) -> dict:  # type: ignore[type-arg]
    response = http.post(f"/v1/workspaces/{ref}/exec", json={"command": command})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def create(http: httpx.Client, name: str, **spec: object) -> dict:  # type: ignore[type-arg]
    response = http.post("/v1/workspaces", json={"name": name, **spec})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def disk_ws(http: httpx.Client, unique_name: str) -> Iterator[dict]:  # type: ignore[type-arg]
    ws = create(http, unique_name, disk_mib=DISK_MIB)
    yield ws
    http.delete(f"/v1/workspaces/{ws['id']}")


def image_of(daemon: Daemon, ws_id: str) -> Path:
    return daemon.state_dir / "disks" / f"ws-{ws_id}.img"


def data_dir_of(daemon: Daemon, ws_id: str) -> Path:
    return daemon.run_dir / "disks" / f"ws-{ws_id}" / "data"


def wrapped_key(daemon: Daemon, key_id: str) -> bytes | None:
    rows = daemon.query("SELECT wrapped FROM keys WHERE key_id = ?", key_id)
    return bytes(rows[0][0]) if rows else None


def files_containing(roots: list[Path], needles: list[bytes]) -> list[str]:
    """Every file under `roots` holding any of `needles` (read in chunks: images are big)."""
    found = []
    overlap = max(len(n) for n in needles)
    for root in roots:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                with open(path, "rb") as f:
                    tail = b""
                    while chunk := f.read(4 << 20):
                        window = tail + chunk
                        if any(n in window for n in needles):
                            found.append(str(path))
                            break
                        tail = window[-overlap:]
            except OSError:
                continue
    return found


def test_disk_is_an_encrypted_ext4_image_at_data(
    server: Daemon, http: httpx.Client, disk_ws: dict
) -> None:
    wid = disk_ws["id"]
    assert disk_ws["disk_mib"] == DISK_MIB and disk_ws["disk_path"] == "/data"
    out = run(http, wid, "stat -f -c %T /data; df -k --output=size /data | tail -1")
    fs_type, size_kib = out["stdout"].split()
    assert fs_type == "ext2/ext3" and 0.8 * DISK_MIB * 1024 < int(size_kib) <= DISK_MIB * 1024
    image = image_of(server, wid)
    assert image.stat().st_size == DISK_MIB << 20
    assert image.stat().st_blocks * 512 < image.stat().st_size, "the image is not sparse"
    identifier = fscrypt.policy_identifier(str(data_dir_of(server, wid)))
    assert identifier is not None
    assert fscrypt.key_status(str(data_dir_of(server, wid).parent), identifier) == "present"
    # The key is stored wrapped only, and only for this disk.
    assert wrapped_key(server, f"disk:ws-{wid}") is not None


def test_disk_survives_stop_start_pause_resume(http: httpx.Client, disk_ws: dict) -> None:
    wid = disk_ws["id"]
    run(http, wid, "echo kept > /data/kept.txt")
    assert http.post(f"/v1/workspaces/{wid}/stop").json()["state"] == "stopped"
    assert http.post(f"/v1/workspaces/{wid}/start").json()["state"] == "running"
    assert run(http, wid, "cat /data/kept.txt")["stdout"] == "kept\n"
    assert http.post(f"/v1/workspaces/{wid}/pause").json()["state"] == "paused"
    assert http.post(f"/v1/workspaces/{wid}/resume").json()["state"] == "running"
    assert run(http, wid, "cat /data/kept.txt")["stdout"] == "kept\n"


def test_disk_survives_daemon_kill9_and_host_reboot(server: Daemon, unique_name: str) -> None:
    with server.http() as http:
        ws = create(http, unique_name, disk_mib=DISK_MIB, command="sleep 100000",
                    restart="always")  # fmt: skip
        run(http, ws["id"], "echo before > /data/f.txt")
    server.kill9()
    server.start()
    with server.http() as http:
        assert run(http, ws["id"], "cat /data/f.txt")["stdout"] == "before\n"
    # A reboot, as far as this workspace goes: the daemon dies, then its container, its
    # mount and loop device, and the key in the kernel (it goes with the unmount).
    server.kill9()
    subprocess.run([ws["runtime"], "--root", str(server.run_dir / "runtime"), "delete",
                    "--force", ws["id"]], check=True)  # fmt: skip
    mount_point = data_dir_of(server, ws["id"]).parent
    subprocess.run(["umount", str(mount_point)], check=True)
    assert loop.release(image_of(server, ws["id"]))
    server.start()
    with server.http() as http:
        current = http.get(f"/v1/workspaces/{ws['id']}").json()
        assert current["state"] == "running" and current["restart_count"] >= 1
        assert run(http, ws["id"], "cat /data/f.txt")["stdout"] == "before\n"
        http.delete(f"/v1/workspaces/{ws['id']}")


def test_quota_gives_enospc_and_everything_keeps_working(
    server: Daemon, http: httpx.Client, disk_ws: dict
) -> None:
    wid = disk_ws["id"]
    full = run(http, wid, f"dd if=/dev/zero of=/data/fill bs=1M count={2 * DISK_MIB} 2>&1")
    assert full["exit_code"] != 0 and "No space left on device" in full["stdout"]
    written = run(http, wid, "stat -c %s /data/fill")["stdout"]
    assert int(written) <= DISK_MIB << 20
    # The files API says so too, as a 409 with a message (not a 500).
    refused = http.put(f"/v1/workspaces/{wid}/files", params={"path": "/data/more"},
                       content=b"x" * (4 << 20))  # fmt: skip
    assert refused.status_code == 409 and "no space" in refused.json()["message"]
    # The workspace, its other filesystems and the daemon carry on.
    assert run(http, wid, "echo fine > /tmp/ok && cat /tmp/ok")["stdout"] == "fine\n"
    assert run(http, wid, "rm /data/fill && echo small > /data/s && cat /data/s")["stdout"] == (
        "small\n"
    )
    assert http.get("/v1/health").json() == {"status": "ok"}
    assert image_of(server, wid).stat().st_size == DISK_MIB << 20


def test_destroy_is_cryptographic_erasure(
    server: Daemon, http: httpx.Client, unique_name: str, tmp_path: Path
) -> None:
    ws = create(http, unique_name, disk_mib=DISK_MIB)
    wid, key_id = ws["id"], f"disk:ws-{ws['id']}"
    marker = f"CORRAL-PLAINTEXT-{secrets.token_hex(16)}"
    name = f"notes-{secrets.token_hex(8)}.txt"
    run(http, wid, f"yes {marker} | head -c 262144 > /data/{name}; sync")
    os.sync()
    # What an attacker might keep: a raw copy of the image, taken before the destroy...
    copy = tmp_path / "copy.img"
    shutil.copyfile(image_of(server, wid), copy)
    # ...and what the test needs to show that copy is only noise without the key.
    wrapped = wrapped_key(server, key_id)
    assert wrapped is not None
    master = parse((server.state_dir / "master.key").read_bytes())
    key = envelope.unwrap(master, wrapped, key_id)

    started = time.perf_counter()
    assert http.delete(f"/v1/workspaces/{wid}").json()["state"] == "destroyed"
    erase_ms = (time.perf_counter() - started) * 1000

    assert not image_of(server, wid).exists()
    assert loop.find(image_of(server, wid)) is None
    assert not data_dir_of(server, wid).parent.exists()
    assert wrapped_key(server, key_id) is None
    raw = copy.read_bytes()
    assert marker.encode() not in raw and name.encode() not in raw
    # No key able to decrypt it is left anywhere: not the raw key, not its wrapped form,
    # in any file of the state dir (database, its write-ahead log, keys...) or the log.
    needles = [key, key.hex().encode(), base64.b64encode(key), wrapped, base64.b64encode(wrapped)]
    assert not files_containing([server.state_dir, server.log_path], needles)
    # Control: with the key (which only this test still holds) the copy does decrypt, so it
    # held the file all along, as ciphertext.
    control = EncryptedDisks(tmp_path / "images", tmp_path / "mounts")
    shutil.move(copy, control.image_path("control"))
    try:
        data = control.mount("control", key)
        assert (data / name).read_text().startswith(marker)
    finally:
        control.erase("control")
    assert erase_ms < 5000


def test_rotate_master_key_keeps_disks_and_secrets_readable(
    server: Daemon, unique_name: str
) -> None:
    with server.http() as http:
        http.put("/v1/secrets/rotation-test", json={"value": "tenant-value"})
        ws = create(http, unique_name, disk_mib=DISK_MIB, env={
            "INLINE": {"value": "inline-value", "secret": True},
            "REF": {"secret": "rotation-test"}})  # fmt: skip
        run(http, ws["id"], "echo data > /data/d.txt")
        old_master = (server.state_dir / "master.key").read_bytes()
        old_wrapped = wrapped_key(server, f"disk:ws-{ws['id']}")
        rotated = http.post("/v1/admin/rotate-master-key")
        assert rotated.status_code == 200, rotated.text
        assert rotated.json()["rewrapped"] >= 3  # disk key, workspace and tenant data keys
        assert (server.state_dir / "master.key").read_bytes() != old_master
        assert wrapped_key(server, f"disk:ws-{ws['id']}") != old_wrapped
    # The daemon restarts on the new master key; a "reboot" makes it unwrap the disk key.
    server.kill9()
    subprocess.run([ws["runtime"], "--root", str(server.run_dir / "runtime"), "delete",
                    "--force", ws["id"]], check=True)  # fmt: skip
    subprocess.run(["umount", str(data_dir_of(server, ws["id"]).parent)], check=True)
    server.start()
    with server.http() as http:
        assert http.post(f"/v1/workspaces/{ws['id']}/start").json()["state"] == "running"
        out = run(http, ws["id"], "cat /data/d.txt; echo $INLINE $REF")
        assert out["stdout"] == "data\ninline-value tenant-value\n"
        http.delete(f"/v1/workspaces/{ws['id']}")
        http.delete("/v1/secrets/rotation-test")


def test_failed_create_with_a_disk_leaves_nothing(server: Daemon, http: httpx.Client,
                                                  unique_name: str) -> None:  # fmt: skip
    broken = server.state_dir / "images" / "broken-disk" / "rootfs"
    broken.mkdir(parents=True)
    (broken / ".corral").write_text("a file where the init's mount point must be a directory")
    try:
        before = set(os.listdir(server.state_dir / "disks"))
        response = http.post("/v1/workspaces", json={"name": unique_name, "image": "broken-disk",
                                                     "disk_mib": DISK_MIB})  # fmt: skip
        assert response.status_code == 500, response.text
        assert set(os.listdir(server.state_dir / "disks")) <= before
        live = {w["id"] for w in http.get("/v1/workspaces").json()["workspaces"]}
        keys = [r[0] for r in server.query("SELECT key_id FROM keys")]
        assert all(k.removeprefix("disk:ws-") in live for k in keys if k.startswith("disk:ws-"))
        attached = [b for b in loop.backing_files().values() if "/disks/ws-" in b
                    and b.startswith(str(server.state_dir))]  # fmt: skip
        assert all(Path(b).name.removeprefix("ws-").removesuffix(".img") in live for b in attached)
    finally:
        shutil.rmtree(broken.parent)


@pytest.fixture
def crashy(server: Daemon, request: pytest.FixtureRequest) -> Iterator[Daemon]:
    name = request.node.callspec.id.replace(".", "-")
    # Its own run dir, not below the session daemon's (whose leak check would see its hub).
    daemon = Daemon(state_dir=server.state_dir.parent / f"crash-disk-{name}",
                    run_dir=Path(f"/run/corral-test-cd-{server.state_dir.parent.name}-{name}"),
                    port=free_port())  # fmt: skip
    daemon.start()
    yield daemon
    try:
        if daemon.proc is None or daemon.proc.poll() is not None:  # the test left it down
            daemon.extra_env = {}
            daemon.start()
        with daemon.http() as http:
            for ws in http.get("/v1/workspaces").json()["workspaces"]:
                http.delete(f"/v1/workspaces/{ws['id']}")
        daemon.stop()
        left = leaks(daemon)
    finally:
        release_disks(daemon)
        with contextlib.suppress(Exception):  # its hub (the session's cleanup may not reach it)
            remove_hub(daemon.run_dir)
        shutil.rmtree(daemon.run_dir, ignore_errors=True)
    assert not left, left


@pytest.mark.parametrize("point", ["create.disk", "create.runtime", "destroy.disk"])
def test_crash_mid_create_or_destroy_with_a_disk_converges(crashy: Daemon, point: str) -> None:
    with crashy.http() as http:
        if point.startswith("destroy"):
            ws = create(http, "victim", disk_mib=DISK_MIB)
    crash_at(crashy, point)
    with crashy.http() as http, pytest.raises(httpx.TransportError):
        if point.startswith("create"):
            http.post("/v1/workspaces", json={"name": "victim", "disk_mib": DISK_MIB})
        else:
            http.delete(f"/v1/workspaces/{ws['id']}")
    restart_clean(crashy)
    with crashy.http() as http:
        listed = http.get("/v1/workspaces").json()["workspaces"]
        assert all(w["state"] == "failed" for w in listed), listed
        for w in listed:
            assert http.delete(f"/v1/workspaces/{w['id']}").json()["state"] == "destroyed"
    assert not crashy.query("SELECT key_id FROM keys WHERE key_id LIKE 'disk:%'")
    assert not os.listdir(crashy.state_dir / "disks")
    assert not leaks(crashy)
