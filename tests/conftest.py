"""Shared fixtures: a real `corral serve` daemon on loopback, with its own state directory.

Nothing here is mocked: the daemon runs real containers with the host's OCI runtime. At the
end of the session every workspace is destroyed and the host is checked for leaks
(containers, network namespaces, mounts, cgroups).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.drivers.storage.loop import backing_files

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Daemon:
    """A real corral daemon process. `kill9()` + `start()` simulate a crash and restart."""

    state_dir: Path
    run_dir: Path
    port: int
    runtime: str = "auto"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    extra_env: dict[str, str] = field(default_factory=dict)
    # Every daemon gets its own workspace subnet, kept across its restarts (two test sessions
    # on one host, or two daemons in one session, must not share one).
    subnet: str = field(default_factory=lambda: free_subnet())

    def __post_init__(self) -> None:
        self.log_path = self.state_dir.parent / f"daemon-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_key(self) -> str:
        return (self.state_dir / "admin.key").read_text().strip()

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CORRAL_STATE_DIR": str(self.state_dir),
            "CORRAL_RUN_DIR": str(self.run_dir),
            "CORRAL_PORT": str(self.port),
            "CORRAL_RUNTIME": self.runtime,
            "CORRAL_URL": self.url,
            "CORRAL_METRICS_INTERVAL": "1",  # sample fast enough for tests to see history
            "CORRAL_WARM_POOL": "",  # no pool unless a test asks for one (test_pool.py)
            "CORRAL_ROOTFS_WARN_MIB": "200",  # a disk anomaly a test can cause (test_metrics.py)
            "CORRAL_SUBNET": self.subnet,
            **self.extra_env,
        }

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "corral.cli", "serve"],
            env=self.env(),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("daemon did not become healthy in 30 s")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def query(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        """Read the daemon's database, running or not. Read-only and closed at once: a
        connection of ours that can write could, on closing, take itself for the last one and
        checkpoint and remove the write-ahead log under the daemon."""
        import sqlite3

        uri = f"file:{self.state_dir / 'corral.db'}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
            return conn.execute(sql, args).fetchall()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=60)


def leaks(daemon: Daemon) -> dict[str, list[str]]:
    """Runtime objects of this daemon still on the host."""
    found: dict[str, list[str]] = {}
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    hub = str(daemon.run_dir / "hub.netns")  # the daemon's own (see remove_hubs)
    roots = (str(daemon.state_dir), str(daemon.run_dir))  # not /run/x-2 for /run/x
    found["mounts"] = [m for m in mounts if m != hub
                       and any(m == r or m.startswith(r + "/") for r in roots)]  # fmt: skip
    netns_dir = daemon.run_dir / "netns"
    found["netns"] = sorted(os.listdir(netns_dir)) if netns_dir.is_dir() else []
    runtime_root = daemon.run_dir / "runtime"
    found["containers"] = (
        [d for d in os.listdir(runtime_root) if (runtime_root / d).is_dir()]
        if runtime_root.is_dir()
        else []
    )
    found["loop_devices"] = [  # disks (images in the state dir) still attached
        dev for dev, backing in backing_files().items()
        if backing.startswith(str(daemon.state_dir) + "/")
    ]  # fmt: skip
    found["workspace_dirs"] = (
        sorted(os.listdir(daemon.state_dir / "workspaces"))
        if (daemon.state_dir / "workspaces").is_dir()
        else []
    )
    found.update(network_leaks(daemon))
    return {k: v for k, v in found.items() if v}


@contextlib.contextmanager
def side_daemon(server: Daemon, name: str, **env: str) -> Iterator[Daemon]:
    """Another daemon of the session (its own state dir, run dir, port and subnet) started
    with `env`. At the end its workspaces are destroyed, it stops, and nothing of it may be
    left on the host (pooled sandboxes are the test's to drain first)."""
    daemon = Daemon(state_dir=server.state_dir.parent / f"{name}-state",
                    run_dir=Path(f"{server.run_dir}-{name}"), port=free_port())  # fmt: skip
    daemon.extra_env = dict(env)
    daemon.start()
    try:
        yield daemon
        with daemon.http() as http:
            for ws in http.get("/v1/workspaces").json()["workspaces"]:
                http.delete(f"/v1/workspaces/{ws['id']}")
    finally:
        daemon.stop()
    assert not leaks(daemon), leaks(daemon)


# -- the private network: a subnet per daemon, leak checks, hub removal ----------------------

_subnets_taken: set[str] = set()


def free_subnet() -> str:
    """A random /24 in 10.78-10.127 that no route of this host (or daemon of ours) uses."""
    import ipaddress
    import json
    import random

    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"],
                                       capture_output=True, text=True).stdout or "[]")  # fmt: skip
    used = [ipaddress.ip_network(r["dst"], strict=False) for r in routes
            if r.get("dst", "default") not in ("default",) and "/" in r["dst"]]  # fmt: skip
    while True:
        subnet = f"10.{random.randint(78, 127)}.{random.randint(0, 255)}.0/24"
        network = ipaddress.ip_network(subnet)
        if subnet not in _subnets_taken and not any(network.overlaps(u) for u in used):
            _subnets_taken.add(subnet)
            return subnet


def hub_ports(run_dir: Path) -> list[str]:
    """Workspace veth ends left in a daemon's hub (they go a few ms after a destroy)."""
    hub = run_dir / "hub.netns"
    if not hub.exists():
        return []
    deadline = time.monotonic() + 3
    while True:
        out = subprocess.run(["nsenter", f"--net={hub}", "ip", "-o", "link", "show"],
                             capture_output=True, text=True).stdout  # fmt: skip
        ports = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        ports = [p for p in ports if p.startswith("w")]
        if not ports or time.monotonic() > deadline:
            return ports
        time.sleep(0.05)


def network_leaks(daemon: Daemon) -> dict[str, list[str]]:
    """Per-workspace network objects still there: hub ports, name files, nft elements, IPAM."""
    import sqlite3

    found = {"hub_ports": hub_ports(daemon.run_dir)}
    files = daemon.run_dir / "net"
    found["net_files"] = sorted(os.listdir(files)) if files.is_dir() else []
    hub = daemon.run_dir / "hub.netns"
    if hub.exists():
        import json

        listing = subprocess.run(["nsenter", f"--net={hub}", "nft", "-j", "list", "ruleset"],
                                 capture_output=True, text=True).stdout  # fmt: skip
        items = json.loads(listing or '{"nftables": []}')["nftables"]
        found["nft"] = [  # anything about a workspace: set elements (resolvers aside), links
            str(item) for item in items
            if ("set" in item and item["set"].get("elem") and item["set"]["name"] != "resolvers")
            or ("rule" in item and str(item["rule"].get("comment", "")).startswith("link"))
        ]
    stopped = daemon.proc is None or daemon.proc.poll() is not None
    if stopped and (daemon.state_dir / "corral.db").exists():  # live ones have rows, rightly
        for table in ("addresses", "links"):
            try:
                rows = daemon.query(f"SELECT * FROM {table}")  # noqa: S608
            except sqlite3.OperationalError:
                rows = []
            found[table] = [str(row) for row in rows]
    return found


def remove_hubs(run_dir: Path) -> None:
    """Remove the network hubs (namespace, host veth, nft table) of a session's daemons: the
    one in `run_dir` and those in `<run_dir>-*` (the extra daemons some tests start)."""
    from corral.drivers.network.bridge import remove_hub

    for path in [run_dir, *run_dir.parent.glob(f"{run_dir.name}-*")]:
        remove_hub(path)
        shutil.rmtree(path, ignore_errors=True)


def release_disks(daemon: Daemon) -> None:
    """Unmount whatever disks (volumes of a tenant a test forgot...) are still mounted."""
    from corral.drivers import linux
    from corral.drivers.storage.loop import detach

    for point in linux.mountpoints_under(str(daemon.run_dir / "disks")):
        subprocess.run(["umount", "-l", point], capture_output=True)
    for device, backing in backing_files().items():
        if backing.startswith(str(daemon.state_dir) + "/"):
            detach(device)


def cgroup_dirs(ids: set[str]) -> list[str]:
    left = []
    for controller in ("memory", "pids", "cpu", "freezer", "unified"):
        base = Path("/sys/fs/cgroup") / controller / "corral"
        if base.is_dir():
            left += [str(p) for p in base.iterdir() if p.is_dir() and p.name in ids]
    return left


_DAEMONS: list[Daemon] = []  # the session's daemon, once started


def store_damage(daemon: Daemon) -> str | None:
    """What SQLite's own check finds wrong with the daemon's database (None: nothing)."""
    import sqlite3

    db = daemon.state_dir / "corral.db"
    if not db.exists():
        return None
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        verdict = [row[0] for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        conn.close()
    return None if verdict == ["ok"] else "; ".join(verdict)[:2000]


@pytest.fixture(autouse=True)
def _store_stays_whole() -> Iterator[None]:
    """After every test the session daemon's database must still be a sound SQLite file."""
    yield
    for daemon in _DAEMONS:
        damage = store_damage(daemon)
        assert damage is None, f"the daemon's database is damaged: {damage}"


@pytest.fixture(scope="session")
def server() -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.fail("the integration suite needs root (real containers and namespaces)")
    base = Path(tempfile.mkdtemp(prefix="corral-test-"))
    daemon = Daemon(state_dir=base / "state", run_dir=Path(f"/run/corral-test-{base.name}"),
                    port=free_port())  # fmt: skip
    daemon.start()
    _DAEMONS.append(daemon)
    try:
        yield daemon
    finally:
        _DAEMONS.remove(daemon)
        seen: set[str] = set()
        try:
            with daemon.http() as http:
                for ws in http.get("/v1/workspaces").json()["workspaces"]:
                    seen.add(ws["id"])
                    http.delete(f"/v1/workspaces/{ws['id']}")
                # Templates and volumes outlive workspaces (and keep their disks mounted).
                for kind in ("templates", "volumes"):
                    for item in http.get(f"/v1/{kind}").json()[kind]:
                        http.delete(f"/v1/{kind}/{item['id']}")
        finally:
            daemon.stop()
        left = leaks(daemon)
        cgroups_left = cgroup_dirs(seen)
        release_disks(daemon)  # a failed run must not leave disks mounted on the host
        shutil.rmtree(base, ignore_errors=True)
        remove_hubs(daemon.run_dir)  # every daemon of the session is stopped by now
        assert not left, f"leaked after the suite: {left}"
        assert not cgroups_left, f"leaked cgroups: {cgroups_left}"


@pytest.fixture
def http(server: Daemon) -> Iterator[httpx.Client]:
    with server.http() as client:
        yield client


@pytest.fixture
def client(server: Daemon):  # type: ignore[no-untyped-def]
    from corral import Client

    with Client(url=server.url, api_key=server.api_key) as c:
        yield c


_counter = iter(range(1_000_000))


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    base = "".join(ch if ch.isalnum() else "-" for ch in request.node.name.lower())[:40]
    return f"{base.strip('-')}-{next(_counter)}"


@pytest.fixture
def workspace(http: httpx.Client, unique_name: str) -> Iterator[dict]:  # type: ignore[type-arg]
    """A running workspace (host image, default limits), destroyed afterwards."""
    response = http.post("/v1/workspaces", json={"name": unique_name})
    assert response.status_code == 201, response.text
    ws = response.json()
    yield ws
    http.delete(f"/v1/workspaces/{ws['id']}")
