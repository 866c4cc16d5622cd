"""Crash safety: the daemon is killed (SIGKILL) at every step of create, destroy, pause,
resume and stop; after a restart the reconciler converges with nothing leaked or lost."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon, cgroup_dirs, free_port, leaks

from corral.engine.faults import POINTS

pytestmark = pytest.mark.integration


@pytest.fixture
def crashy(server: Daemon, request: pytest.FixtureRequest) -> Iterator[Daemon]:
    name = request.node.callspec.id.replace(".", "-")
    daemon = Daemon(
        state_dir=server.state_dir.parent / f"crash-{name}",
        run_dir=Path(f"{server.run_dir}-c-{name}"),
        port=free_port(),
    )
    daemon.start()
    yield daemon
    seen: set[str] = set()
    with daemon.http() as http:
        for ws in http.get("/v1/workspaces").json()["workspaces"]:
            seen.add(ws["id"])
            http.delete(f"/v1/workspaces/{ws['id']}")
    daemon.stop()
    assert not leaks(daemon), leaks(daemon)
    assert not cgroup_dirs(seen)


def crash_at(daemon: Daemon, point: str) -> None:
    """Restart the daemon with the fault armed."""
    daemon.stop()
    daemon.extra_env = {"CORRAL_FAULT": point}
    daemon.start()


def restart_clean(daemon: Daemon) -> None:
    assert daemon.proc is not None
    daemon.proc.wait(timeout=10)  # it killed itself at the fault point
    daemon.extra_env = {}
    daemon.start()


@pytest.mark.parametrize("point", POINTS)
def test_converges_after_crash(crashy: Daemon, point: str) -> None:
    op = point.split(".")[0]
    with crashy.http() as http:
        if op != "create":
            ws = http.post("/v1/workspaces", json={"name": "victim"}).json()
            if op == "resume":
                http.post(f"/v1/workspaces/{ws['id']}/pause")
    crash_at(crashy, point)
    with crashy.http() as http:
        with pytest.raises(httpx.TransportError):
            if op == "create":
                http.post("/v1/workspaces", json={"name": "victim"})
            elif op == "destroy":
                http.delete(f"/v1/workspaces/{ws['id']}")
            else:
                http.post(f"/v1/workspaces/{ws['id']}/{op}")
    restart_clean(crashy)
    with crashy.http() as http:
        listed = http.get("/v1/workspaces").json()["workspaces"]
        if op == "create":
            # Either never recorded, or rolled back to failed with nothing behind it.
            assert all(w["state"] == "failed" for w in listed), listed
            assert not leaks(crashy).get("containers")
            assert not leaks(crashy).get("netns")
            for w in listed:  # a failed create can be started or destroyed
                assert http.delete(f"/v1/workspaces/{w['id']}").json()["state"] == "destroyed"
        elif op == "destroy":
            assert http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "destroyed"
        else:
            current = http.get(f"/v1/workspaces/{ws['id']}").json()
            # The store is the truth: the recorded state holds, and reality matches it.
            # A stop that started is finished (its intent was recorded first).
            expected = {"pause": "running", "resume": "paused", "stop": "stopped"}[op]
            assert current["state"] == expected, current
            if expected == "paused":
                http.post(f"/v1/workspaces/{ws['id']}/resume")
            if expected == "stopped":
                http.post(f"/v1/workspaces/{ws['id']}/start")
            out = http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": "echo ok"})
            assert out.json()["stdout"] == "ok\n"
        assert not leaks(crashy).get("mounts") or listed


def test_load_200_workspaces_in_concurrent_batches(server: Daemon) -> None:
    """200 creates + destroys, 20 at a time: no error, no leak, memory back near baseline."""
    from concurrent.futures import ThreadPoolExecutor

    def rss_mib() -> float:
        assert server.proc is not None
        for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    with server.http() as http:

        def one(i: int) -> None:
            r = http.post("/v1/workspaces", json={"name": f"load-{i}"})
            assert r.status_code == 201, r.text
            out = http.post(f"/v1/workspaces/load-{i}/exec", json={"command": ["true"]})
            assert out.json()["exit_code"] == 0
            assert http.delete(f"/v1/workspaces/load-{i}").json()["state"] == "destroyed"

        with ThreadPoolExecutor(20) as pool:  # warm-up: allocator, caches, thread pools
            list(pool.map(one, range(20)))
        baseline = rss_mib()
        started = time.monotonic()
        with ThreadPoolExecutor(20) as pool:
            list(pool.map(one, range(20, 220)))
        took = time.monotonic() - started
        time.sleep(1)
        after = rss_mib()
    assert took < 240
    left = leaks(server)
    assert not left.get("containers") and not left.get("netns"), left
    assert after - baseline < 40, f"daemon RSS grew {after - baseline:.1f} MiB over 200 workspaces"
    print(f"200 workspaces in {took:.1f}s; RSS {baseline:.1f} -> {after:.1f} MiB")
