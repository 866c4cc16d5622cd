"""Shared fixtures: a real `corral serve` daemon on loopback, with its own state directory.

Nothing here is mocked: the daemon runs real containers with the host's OCI runtime. At the
end of the session every workspace is destroyed and the host is checked for leaks
(containers, network namespaces, mounts, cgroups).
"""

from __future__ import annotations

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

import httpx
import pytest

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

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers(), timeout=60)


def leaks(daemon: Daemon) -> dict[str, list[str]]:
    """Runtime objects of this daemon still on the host."""
    found: dict[str, list[str]] = {}
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    found["mounts"] = [m for m in mounts if m.startswith((str(daemon.state_dir), str(daemon.run_dir)))]
    netns_dir = daemon.run_dir / "netns"
    found["netns"] = sorted(os.listdir(netns_dir)) if netns_dir.is_dir() else []
    runtime_root = daemon.run_dir / "runtime"
    found["containers"] = (
        [d for d in os.listdir(runtime_root) if (runtime_root / d).is_dir()]
        if runtime_root.is_dir()
        else []
    )
    found["workspace_dirs"] = (
        sorted(os.listdir(daemon.state_dir / "workspaces"))
        if (daemon.state_dir / "workspaces").is_dir()
        else []
    )
    return {k: v for k, v in found.items() if v}


def cgroup_dirs(ids: set[str]) -> list[str]:
    left = []
    for controller in ("memory", "pids", "cpu", "freezer", "unified"):
        base = Path("/sys/fs/cgroup") / controller / "corral"
        if base.is_dir():
            left += [str(p) for p in base.iterdir() if p.is_dir() and p.name in ids]
    return left


@pytest.fixture(scope="session")
def server() -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.fail("the integration suite needs root (real containers and namespaces)")
    base = Path(tempfile.mkdtemp(prefix="corral-test-"))
    daemon = Daemon(state_dir=base / "state", run_dir=Path(f"/run/corral-test-{base.name}"),
                    port=free_port())  # fmt: skip
    daemon.start()
    try:
        yield daemon
    finally:
        seen: set[str] = set()
        try:
            with daemon.http() as http:
                for ws in http.get("/v1/workspaces").json()["workspaces"]:
                    seen.add(ws["id"])
                    http.delete(f"/v1/workspaces/{ws['id']}")
        finally:
            daemon.stop()
        left = leaks(daemon)
        cgroups_left = cgroup_dirs(seen)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(daemon.run_dir, ignore_errors=True)
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
