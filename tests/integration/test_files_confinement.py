"""The file API attacked from inside: whatever a workspace plants, no host file is touched.

Each test plants traps with exec (symlinks to /, to host paths, `..` chains, magic links,
FIFOs, swapped directories), then drives every file endpoint through them. A marker
directory on the host holds a random token: it must never come back in a response, and
writes and deletes must leave it byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class HostMarker:
    """A directory on the host, outside the daemon's state, that no workspace may reach."""

    dir: Path
    token: str

    @property
    def secret(self) -> Path:
        return self.dir / "secret.txt"

    def snapshot(self) -> dict[str, bytes]:
        return {
            str(p.relative_to(self.dir)): p.read_bytes()
            for p in sorted(self.dir.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def marker() -> Iterator[HostMarker]:
    base = Path(tempfile.mkdtemp(prefix="corral-host-marker-", dir="/tmp"))
    token = "HOST-SECRET-" + secrets.token_hex(16)
    (base / "secret.txt").write_text(token + "\n")
    (base / "keep").mkdir()
    (base / "keep" / "inner.txt").write_text(token + " inner\n")
    yield HostMarker(base, token)
    shutil.rmtree(base, ignore_errors=True)


def sh(http: httpx.Client, wid: str, script: str, check: bool = True) -> dict:
    response = http.post(f"/v1/workspaces/{wid}/exec", json={"command": script, "timeout": 30})
    assert response.status_code == 200, response.text
    result = response.json()
    if check:
        assert result["exit_code"] == 0, result
    return result  # type: ignore[no-any-return]


class Files:
    """Every file endpoint of one workspace, recording each response for leak checks."""

    def __init__(self, http: httpx.Client, wid: str) -> None:
        self.http = http
        self.base = f"/v1/workspaces/{wid}/files"
        self.seen: list[httpx.Response] = []

    def _keep(self, response: httpx.Response) -> httpx.Response:
        self.seen.append(response)
        return response

    def read(self, path: str) -> httpx.Response:
        return self._keep(self.http.get(self.base, params={"path": path}))

    def write(self, path: str, data: bytes, mode: int | None = None) -> httpx.Response:
        params: dict[str, str | int] = {"path": path}
        if mode is not None:
            params["mode"] = mode
        return self._keep(self.http.put(self.base, params=params, content=data))

    def delete(self, path: str, recursive: bool = False) -> httpx.Response:
        params = {"path": path, "recursive": str(recursive).lower()}
        return self._keep(self.http.delete(self.base, params=params))

    def ls(self, path: str) -> httpx.Response:
        return self._keep(self.http.get(f"{self.base}/list", params={"path": path}))

    def stat(self, path: str) -> httpx.Response:
        return self._keep(self.http.get(f"{self.base}/stat", params={"path": path}))

    def mkdir(self, path: str, parents: bool = True) -> httpx.Response:
        body = {"path": path, "parents": parents}
        return self._keep(self.http.post(f"{self.base}/mkdir", json=body))

    def all_reads(self, path: str) -> list[httpx.Response]:
        return [self.read(path), self.stat(path), self.ls(path)]

    def every_endpoint(self, path: str) -> Iterator[httpx.Response]:
        """One call per endpoint, lazily: a failed call is reported before the next is made."""
        yield self.read(path)
        yield self.stat(path)
        yield self.ls(path)
        yield self.write(path, b"x")
        yield self.mkdir(path)
        yield self.delete(path)

    def assert_no_leak(self, *secrets_: str) -> None:
        for response in self.seen:
            assert response.status_code < 500, (response.request.url, response.text)
            for secret in secrets_:
                assert secret.encode() not in response.content, (
                    f"host content leaked through {response.request.url}"
                )


def assert_4xx_json(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.request.url, response.status_code,
                                               response.text)  # fmt: skip
    body = response.json()
    assert body["error"] and body["message"], body


@pytest.fixture
def files(http: httpx.Client, workspace: dict) -> Files:
    return Files(http, workspace["id"])


def _host_shadow() -> str:
    try:
        return Path("/etc/shadow").read_text().strip()
    except OSError:
        return ""


def _secrets(marker: HostMarker, server: Daemon) -> list[str]:
    found = [marker.token, server.api_key]
    if shadow := _host_shadow():
        found.append(shadow.splitlines()[0])
    return found


# -- symlinks out of the root -----------------------------------------------------------


def test_symlink_to_host_root_resolves_inside_the_workspace(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker, server: Daemon
) -> None:
    wid = workspace["id"]
    sh(http, wid, "ln -s / /tmp/hostroot")
    for path in (f"/tmp/hostroot{marker.secret}", f"/tmp/hostroot{marker.dir}",
                 f"/tmp/hostroot{marker.dir}/keep/inner.txt", "/tmp/hostroot/etc/shadow",
                 f"/tmp/hostroot{server.state_dir}/admin.key",
                 f"/tmp/hostroot{server.state_dir}"):  # fmt: skip
        for response in files.all_reads(path):
            assert response.status_code == 404, (path, response.status_code, response.text)
    # Listing "/" through the link shows the workspace's root, not the host's.
    listed = files.ls("/tmp/hostroot")
    assert listed.status_code == 200, listed.text
    names = {entry["name"] for entry in listed.json()["entries"]}
    assert ".corral" in names and "tmp" in names
    host_only = set(os.listdir("/")) - names
    assert host_only, "the host root should have entries a workspace root does not"
    assert ".corral" not in os.listdir("/")
    files.assert_no_leak(*_secrets(marker, server))


def test_symlinks_to_host_files_are_not_followed_out(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker, server: Daemon
) -> None:
    wid = workspace["id"]
    sh(http, wid, f"ln -s /etc/shadow /tmp/shadow && ln -s {marker.secret} /tmp/secret "
                  f"&& ln -s {marker.dir} /tmp/markerdir "
                  f"&& ln -s {server.state_dir}/admin.key /tmp/key")  # fmt: skip
    for path in ("/tmp/shadow", "/tmp/secret", "/tmp/key", "/tmp/markerdir/secret.txt",
                 "/tmp/markerdir", "/tmp/markerdir/keep"):  # fmt: skip
        read = files.read(path)
        assert read.status_code in (404, 409), (path, read.text)
        assert files.ls(path).status_code == 404
    # stat of the link itself describes the link, never its (host) target.
    link = files.stat("/tmp/secret")
    assert link.status_code == 200 and link.json()["type"] == "symlink"
    assert link.json()["size"] == len(str(marker.secret))
    files.assert_no_leak(*_secrets(marker, server))


def test_dotdot_paths_stop_at_the_workspace_root(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker, server: Daemon
) -> None:
    wid = workspace["id"]
    own_passwd = sh(http, wid, "cat /etc/passwd")["stdout"].encode()
    assert own_passwd != Path("/etc/passwd").read_bytes(), "test needs a passwd unlike the host's"
    for path in ("/../../etc/passwd", "/tmp/../../../../etc/passwd", "/./../etc/../etc/passwd",
                 "//..//..//etc//passwd"):  # fmt: skip
        read = files.read(path)
        assert read.status_code == 200 and read.content == own_passwd, (path, read.text)
    for path in (f"/../../..{marker.secret}", f"/tmp/../..{marker.dir}/keep/inner.txt",
                 f"/../..{server.state_dir}/admin.key"):  # fmt: skip
        for response in files.all_reads(path):
            assert response.status_code == 404, (path, response.text)
    files.assert_no_leak(*_secrets(marker, server))


def test_relative_symlink_chains_cannot_climb_out(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker, server: Daemon
) -> None:
    wid = workspace["id"]
    own_passwd = sh(http, wid, "cat /etc/passwd")["stdout"].encode()
    sh(
        http,
        wid,
        "mkdir -p /tmp/a/b/c && cd /tmp/a/b/c "
        "&& ln -s ../../../../../../../../../.. up "
        "&& ln -s ../../../../../../../../etc etcup "
        "&& ln -s .. p1 && ln -s p1/.. p2 && ln -s p2/.. p3 && ln -s p3/../../../.. p4",
    )
    for path in ("/tmp/a/b/c/up/etc/passwd", "/tmp/a/b/c/etcup/passwd",
                 "/tmp/a/b/c/p4/etc/passwd", "/tmp/a/b/c/p2/../p3/../p4/etc/passwd"):  # fmt: skip
        read = files.read(path)
        assert read.status_code == 200 and read.content == own_passwd, (path, read.text)
    escapes = [f"/tmp/a/b/c/up{marker.secret}", f"/tmp/a/b/c/p4{marker.dir}/keep/inner.txt",
               f"/tmp/a/b/c/p4/..{marker.secret}", f"/tmp/a/b/c/up{server.state_dir}"]  # fmt: skip
    for path in escapes:
        for response in files.all_reads(path):
            assert response.status_code == 404, (path, response.text)
    files.assert_no_leak(*_secrets(marker, server))


def test_proc_magic_links_are_refused(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker, server: Daemon
) -> None:
    wid = workspace["id"]
    sh(
        http,
        wid,
        "ln -s /proc/self/root /tmp/pself && ln -s /proc/1/root /tmp/p1 "
        "&& ln -s /proc/1/cwd /tmp/p1cwd && ln -s /proc/self/fd /tmp/pfd",
    )
    paths = ["/proc/self/root/etc/passwd", "/proc/1/root/etc/passwd", "/proc/1/cwd/etc/passwd",
             f"/proc/1/root{marker.secret}", "/tmp/pself/etc/passwd", f"/tmp/p1{marker.secret}",
             "/tmp/p1/etc/passwd", "/tmp/p1cwd/etc/passwd", "/proc/1/root", "/tmp/p1",
             "/proc/thread-self/root/etc/passwd", "/tmp/pfd/0"]  # fmt: skip
    for path in paths:
        read = files.read(path)
        assert 400 <= read.status_code < 500, (path, read.status_code, read.content[:200])
        assert 400 <= files.ls(path).status_code < 500, path
    for path in ("/tmp/p1/tmp/planted", "/proc/1/root/tmp/planted", "/tmp/p1cwd/planted"):
        assert 400 <= files.write(path, b"x").status_code < 500, path
        assert 400 <= files.mkdir(path + "-dir").status_code < 500, path
        assert 400 <= files.delete(path).status_code < 500, path
    assert sh(http, wid, "ls /tmp")["stdout"].split() == ["p1", "p1cwd", "pfd", "pself"]
    files.assert_no_leak(*_secrets(marker, server))


def test_host_hostname_is_not_what_the_workspace_serves(
    http: httpx.Client, workspace: dict, files: Files
) -> None:
    host = Path("/etc/hostname").read_bytes()
    sh(http, workspace["id"], "ln -s / /tmp/hostroot && ln -s /etc/hostname /tmp/hn")
    for path in ("/etc/hostname", "/tmp/hostroot/etc/hostname", "/tmp/hn", "/../etc/hostname"):
        read = files.read(path)
        assert read.status_code == 404 or read.content != host, (path, read.content)


# -- writes and deletes through traps ----------------------------------------------------


def test_writes_through_symlinks_land_inside_the_workspace(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker, server: Daemon
) -> None:
    wid = workspace["id"]
    before = marker.snapshot()
    probe = f"corral-probe-{secrets.token_hex(6)}"
    # The same directory path exists inside the workspace: the write must go there.
    sh(
        http,
        wid,
        f"mkdir -p {marker.dir} && ln -s / /tmp/hostroot && ln -s /etc /tmp/etclink "
        f"&& ln -s {marker.dir} /tmp/mdir && ln -s {marker.secret} /tmp/msecret",
    )
    for path in (f"/tmp/hostroot{marker.secret}", "/tmp/msecret", "/tmp/mdir/keep/inner.txt",
                 f"/../..{marker.secret}", f"/tmp/etclink/{probe}"):  # fmt: skip
        response = files.write(path, b"overwritten by the file API")
        assert response.status_code == 200, (path, response.text)
    assert files.mkdir(f"/tmp/hostroot/tmp/{probe}-dir").status_code == 200
    assert files.mkdir(f"/tmp/mdir/{probe}-dir").status_code == 200

    assert marker.snapshot() == before, "a write through a symlink changed a host file"
    assert not Path(f"/etc/{probe}").exists()
    assert not Path(f"/tmp/{probe}-dir").exists()
    assert not (marker.dir / f"{probe}-dir").exists()
    inside = sh(
        http,
        wid,
        f"cat {marker.secret} {marker.dir}/keep/inner.txt /etc/{probe}; "
        f"test -d /tmp/{probe}-dir && test -d {marker.dir}/{probe}-dir",
    )
    assert inside["stdout"] == "overwritten by the file API" * 3
    files.assert_no_leak(*_secrets(marker, server))


def test_recursive_delete_does_not_follow_symlinks(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker
) -> None:
    wid = workspace["id"]
    before = marker.snapshot()
    sh(
        http,
        wid,
        f"mkdir -p {marker.dir}/keep && echo own > {marker.dir}/keep/own.txt "
        "&& mkdir -p /tmp/victim/a/b && echo x > /tmp/victim/a/b/file "
        f"&& ln -s {marker.dir} /tmp/victim/hostdir && ln -s / /tmp/victim/root "
        "&& ln -s /usr /tmp/victim/a/usr && ln -s /proc/1/root /tmp/victim/p1 "
        "&& ln -s ../../../.. /tmp/victim/a/b/up && ln -s /etc /tmp/victim/etc",
    )
    assert files.delete("/tmp/victim").status_code == 409, "non-empty dir needs recursive"
    gone = files.delete("/tmp/victim", recursive=True)
    assert gone.status_code == 204, gone.text
    assert files.stat("/tmp/victim").status_code == 404
    assert marker.snapshot() == before, "recursive delete reached a host directory"
    inside = sh(http, wid, f"cat {marker.dir}/keep/own.txt && test -x /usr/bin/python3 "
                           "&& test -s /etc/passwd && ls -a /")  # fmt: skip
    assert inside["stdout"].startswith("own\n") and ".corral" in inside["stdout"]


def test_delete_through_symlinked_parents_stays_inside(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker
) -> None:
    wid = workspace["id"]
    before = marker.snapshot()
    sh(http, wid, f"ln -s / /tmp/hostroot && ln -s {marker.dir} /tmp/mdir")
    for path in (f"/tmp/hostroot{marker.secret}", "/tmp/mdir/secret.txt",
                 f"/tmp/hostroot{marker.dir}/keep", f"/../..{marker.secret}"):  # fmt: skip
        assert files.delete(path, recursive=True).status_code == 404, path
    assert marker.snapshot() == before
    # Deleting the link removes the link, not its target.
    assert files.delete("/tmp/hostroot").status_code == 204
    assert sh(http, wid, "test ! -e /tmp/hostroot && test -d /usr/bin && test -s /etc/passwd")


# -- races and special files -------------------------------------------------------------

_SWAPPER = """
import os, time
os.makedirs('/tmp/swreal/tmp', exist_ok=True)
end = time.time() + {seconds}
while time.time() < end:
    for target in ('/', '/proc/1/root', '/tmp/swreal', '{marker}', '../../..'):
        try:
            os.symlink(target, '/tmp/sw.new')
            os.rename('/tmp/sw.new', '/tmp/sw')
        except OSError:
            pass
"""


def test_directory_swapped_for_a_symlink_during_calls(
    http: httpx.Client, workspace: dict, marker: HostMarker, server: Daemon
) -> None:
    wid = workspace["id"]
    before = marker.snapshot()
    probe = f"corral-swap-{secrets.token_hex(6)}"
    sh(http, wid, "mkdir -p /tmp/sw")
    script = _SWAPPER.format(seconds=3, marker=marker.dir)
    http.post(f"/v1/workspaces/{wid}/exec", json={"command": ["sh", "-c",
              'nohup python3 -c "$0" >/dev/null 2>&1 &', script]})  # fmt: skip
    errors: list[str] = []

    def hammer() -> None:
        with server.http() as own:
            files = Files(own, wid)
            deadline = time.monotonic() + 2.0
            n = 0
            while time.monotonic() < deadline:
                n += 1
                files.read(f"/tmp/sw{marker.secret}")
                files.read("/tmp/sw/keep/inner.txt")
                files.ls(f"/tmp/sw{marker.dir}")
                files.stat(f"/tmp/sw{marker.dir}/keep/inner.txt")
                files.write(f"/tmp/sw/tmp/{probe}-{n}", b"x")
                files.write(f"/tmp/sw{marker.secret}", b"overwritten")
                files.mkdir(f"/tmp/sw/tmp/{probe}-d{n}")
                files.delete(f"/tmp/sw{marker.dir}/keep", recursive=True)
            try:
                files.assert_no_leak(*_secrets(marker, server))
            except AssertionError as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert marker.snapshot() == before, "a swapped symlink let a write or delete reach the host"
    assert not [p for p in os.listdir("/tmp") if p.startswith(probe)]
    assert not [p for p in os.listdir(marker.dir) if p.startswith(probe)]


def test_fifo_reads_are_refused_without_hanging(
    http: httpx.Client, workspace: dict, files: Files
) -> None:
    wid = workspace["id"]
    sh(http, wid, "mkfifo /tmp/fifo && ln -s /tmp/fifo /tmp/fifolink")
    started = time.monotonic()
    for path in ("/tmp/fifo", "/tmp/fifolink"):
        assert_4xx_json(files.read(path))
    assert files.stat("/tmp/fifo").json()["type"] == "other"
    assert_4xx_json(files.ls("/tmp/fifo"))
    # With a writer holding the FIFO open, a read still refuses rather than blocking.
    sh(http, wid, "nohup sh -c 'sleep 5 > /tmp/fifo' >/dev/null 2>&1 &")
    assert_4xx_json(files.read("/tmp/fifo"))
    # And with a reader present, a write refuses rather than feeding it.
    sh(http, wid, "mkfifo /tmp/fifo2 && nohup sh -c 'cat /tmp/fifo2 > /tmp/got' >/dev/null 2>&1 &")
    time.sleep(0.2)
    assert_4xx_json(files.write("/tmp/fifo2", b"fed"))
    assert time.monotonic() - started < 10


def test_write_to_a_fifo_without_reader_is_a_4xx(
    http: httpx.Client, workspace: dict, files: Files
) -> None:
    sh(http, workspace["id"], "mkfifo /tmp/fifo")
    # open(O_WRONLY|O_NONBLOCK) on a FIFO with no reader fails with ENXIO.
    assert_4xx_json(files.write("/tmp/fifo", b"data"))


def test_device_files_are_refused(http: httpx.Client, workspace: dict, files: Files) -> None:
    for device in ("/dev/zero", "/dev/null", "/dev/urandom", "/dev/full", "/dev/tty"):
        assert_4xx_json(files.read(device))
        assert_4xx_json(files.write(device, b"x"))


# -- paths that are malformed ------------------------------------------------------------

BAD_PATHS = ["../x", "x", "./etc/passwd", "etc/passwd", "~/x", "/tmp/a\x00b",
             "/tmp/\x00/../../etc/passwd", "\x00"]  # fmt: skip


@pytest.mark.parametrize("path", BAD_PATHS, ids=[repr(p) for p in BAD_PATHS])
def test_relative_or_nul_paths_are_rejected_everywhere(files: Files, path: str) -> None:
    for response in files.every_endpoint(path):
        assert_4xx_json(response)
        assert response.status_code != 404, "a malformed path is not a missing file"


def test_empty_and_overlong_paths_are_rejected(files: Files) -> None:
    for path in ("", "/" + "a" * 5000):
        for response in files.every_endpoint(path):
            assert_4xx_json(response)


def test_overlong_path_component_is_a_4xx(files: Files) -> None:
    name = "/tmp/" + "n" * 300  # longer than NAME_MAX (255): ENAMETOOLONG
    for response in files.every_endpoint(name):
        assert_4xx_json(response)


# -- ordinary behaviour --------------------------------------------------------------------


def test_binary_round_trip_and_mode(http: httpx.Client, workspace: dict, files: Files) -> None:
    data = bytes(range(256)) * 512 + os.urandom(4096) + b"\x00\r\n\xff"
    written = files.write("/srv/blob/data.bin", data, mode=0o600)
    assert written.status_code == 200, written.text
    assert written.json()["size"] == len(data) and written.json()["mode"] == 0o600
    assert files.read("/srv/blob/data.bin").content == data
    digest = sh(http, workspace["id"], "sha256sum /srv/blob/data.bin")["stdout"].split()[0]
    assert digest == hashlib.sha256(data).hexdigest()
    assert files.write("/srv/blob/data.bin", b"short").status_code == 200
    assert files.read("/srv/blob/data.bin").content == b"short", "rewrite must truncate"
    assert files.write("/srv/empty", b"").status_code == 200
    assert files.read("/srv/empty").content == b""


def test_dir_file_mismatches_and_missing_paths(files: Files) -> None:
    assert files.write("/srv/f.txt", b"f").status_code == 200
    for response in (files.read("/srv"), files.read("/"), files.write("/srv", b"x")):
        assert_4xx_json(response)
    for path in ("/srv/missing", "/no/such/dir/file"):
        for response in (files.read(path), files.stat(path), files.ls(path),
                         files.delete(path)):  # fmt: skip
            assert response.status_code == 404, (path, response.text)
            assert_4xx_json(response)


def test_listing_a_file_says_it_is_not_a_directory(files: Files) -> None:
    assert files.write("/srv/f.txt", b"f").status_code == 200
    listed = files.ls("/srv/f.txt")
    assert_4xx_json(listed)
    # The file exists: answering "no such file or directory" sends the caller the wrong way.
    assert listed.status_code != 404, listed.text
    assert "not a directory" in listed.json()["message"]


def test_mkdir_parents_and_conflicts(http: httpx.Client, workspace: dict, files: Files) -> None:
    made = files.mkdir("/srv/x/y/z")
    assert made.status_code == 200 and made.json()["type"] == "dir", made.text
    assert files.mkdir("/srv/x/y/z").status_code == 200, "mkdir -p is idempotent"
    assert files.mkdir("/srv/x/y/z", parents=False).status_code == 409
    assert files.mkdir("/srv/none/a", parents=False).status_code == 404
    assert files.write("/srv/file", b"f").status_code == 200
    assert_4xx_json(files.mkdir("/srv/file"))
    assert_4xx_json(files.mkdir("/srv/file/sub"))
    assert_4xx_json(files.mkdir("/usr/corral-should-not-exist"))
    sh(http, workspace["id"], "test -d /srv/x/y/z")
    names = [e["name"] for e in files.ls("/srv/x/y").json()["entries"]]
    assert names == ["z"]


def test_read_only_mounts_and_cgroup_limits_cannot_be_written(
    http: httpx.Client, workspace: dict, files: Files
) -> None:
    wid = workspace["id"]
    for path in ("/usr/corral-probe", "/usr/bin/python3", "/etc/ssl/corral-probe",
                 "/proc/sys/kernel/hostname", "/sys/kernel/corral-probe",
                 "/sys/fs/cgroup/memory/memory.limit_in_bytes",
                 "/sys/fs/cgroup/pids/pids.max"):  # fmt: skip
        assert_4xx_json(files.write(path, b"1"))
    assert_4xx_json(files.delete("/usr/bin/python3"))
    assert not Path("/usr/corral-probe").exists()
    cgroup = Path("/sys/fs/cgroup/memory/corral") / wid / "memory.limit_in_bytes"
    if cgroup.exists():
        assert cgroup.read_text().strip() != "1"


def test_stopped_workspace_files_stay_confined(
    http: httpx.Client, workspace: dict, files: Files, marker: HostMarker, server: Daemon
) -> None:
    """Stopped, the root is a plain host directory: the traps must still resolve inside it."""
    wid = workspace["id"]
    before = marker.snapshot()
    sh(
        http,
        wid,
        f"ln -s / /tmp/hostroot && ln -s ../../../../../../.. /tmp/up "
        f"&& ln -s {marker.secret} /tmp/secret && ln -s /proc/1/root /tmp/p1 "
        "&& ln -s ../../../../admin.key /tmp/key",
    )
    assert http.post(f"/v1/workspaces/{wid}/stop").json()["state"] == "stopped"
    for path in (f"/tmp/hostroot{marker.secret}", f"/tmp/up{marker.secret}", "/tmp/secret",
                 "/tmp/key", "/tmp/up/admin.key", "/tmp/up/corral.db", "/../admin.key",
                 f"/tmp/up{server.state_dir}/admin.key", "/tmp/p1/etc/passwd",
                 "/../../upper/tmp", "/tmp/up/upper"):  # fmt: skip
        for response in (files.read(path), files.ls(path)):
            assert 400 <= response.status_code < 500, (path, response.text)
        stat = files.stat(path)  # a link itself may be described, never its host target
        assert stat.status_code == 404 or stat.json()["type"] == "symlink", (path, stat.text)
    listed = files.ls("/tmp/up")
    assert listed.status_code == 200
    names = {e["name"] for e in listed.json()["entries"]}
    assert ".corral" in names and not names & {"upper", "work", "rootfs", "admin.key"}
    assert files.write(f"/tmp/up{marker.secret}", b"stopped write").status_code in (200, 404)
    assert files.write("/tmp/up/tmp/from-stopped", b"kept").status_code == 200
    assert files.delete("/tmp/up/admin.key").status_code == 404
    assert marker.snapshot() == before
    assert (server.state_dir / "admin.key").exists()
    assert not Path("/tmp/from-stopped").exists()
    assert http.post(f"/v1/workspaces/{wid}/start").json()["state"] == "running"
    assert sh(http, wid, "cat /tmp/from-stopped")["stdout"] == "kept"
    files.assert_no_leak(*_secrets(marker, server))


# -- the daemon acting for the workspace ---------------------------------------------------


def test_proc_files_are_not_read_with_the_daemons_privileges(
    http: httpx.Client, workspace: dict, files: Files
) -> None:
    """/proc/iomem shows physical addresses only to CAP_SYS_ADMIN: the workspace sees zeros.

    The file API must not hand a workspace what the kernel hides from it (kernel
    addresses here; /proc/kallsyms and friends likewise).
    """
    own_view = sh(http, workspace["id"], "cat /proc/iomem")["stdout"].encode()
    response = files.read("/proc/iomem")
    assert response.status_code >= 400 or response.content == own_view, (
        "the file API read /proc/iomem as host root: "
        + response.content[:120].decode(errors="replace")
    )


def test_reading_a_huge_sparse_file_does_not_balloon_the_daemon(
    http: httpx.Client, workspace: dict, server: Daemon
) -> None:
    """A workspace can make a 1 GiB file in no time (sparse); reading it must not buffer it."""
    assert server.proc is not None
    pid = server.proc.pid
    sh(http, workspace["id"], "truncate -s 1073741825 /tmp/huge")

    def peak_rss_kib() -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak to the current RSS
    baseline = peak_rss_kib()
    with http.stream("GET", f"/v1/workspaces/{workspace['id']}/files",
                     params={"path": "/tmp/huge"}) as response:  # fmt: skip
        status = response.status_code
    grown_mib = (peak_rss_kib() - baseline) / 1024
    assert grown_mib < 256, (
        f"serving a 1 GiB file grew the daemon by {grown_mib:.0f} MiB (status {status}): "
        "it is read whole into memory"
    )


def test_upload_over_the_limit_is_refused(http: httpx.Client, workspace: dict) -> None:
    """routes/files.py declares MAX_UPLOAD = 1 GiB; a bigger body must get 413, not be buffered."""
    chunk = b"\0" * (1 << 20)

    def body() -> Iterator[bytes]:
        for _ in range(1024):
            yield chunk
        yield b"!"

    response = http.put(f"/v1/workspaces/{workspace['id']}/files",
                        params={"path": "/tmp/too-big"}, content=body(),
                        headers={"content-length": str((1 << 30) + 1)})  # fmt: skip
    assert response.status_code == 413, response.text[:200]
