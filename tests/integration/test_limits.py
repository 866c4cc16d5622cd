"""Resource limits under attack: memory hogs, fork bombs, CPU burners, runaway commands.

Every attack is bounded (caps on loops, deadlines, exec timeouts) so that a missing limit
fails the test instead of taking the machine down. After each one the workspace and the
daemon must still answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def run(http: httpx.Client, wid: str, command: str | list[str], timeout: float = 30) -> dict:
    response = http.post(
        f"/v1/workspaces/{wid}/exec", json={"command": command, "timeout": timeout}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def py(http: httpx.Client, wid: str, code: str, timeout: float = 30) -> dict:
    return run(http, wid, ["python3", "-c", code], timeout)


@pytest.fixture
def make(http: httpx.Client, unique_name: str) -> Iterator:  # type: ignore[type-arg]
    """Create workspaces with given limits; all destroyed afterwards."""
    made: list[str] = []

    def create(**limits: object) -> dict:
        response = http.post("/v1/workspaces", json={"name": f"{unique_name}-{len(made)}",
                                                      **limits})  # fmt: skip
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return response.json()  # type: ignore[no-any-return]

    yield create
    for wid in made:
        http.delete(f"/v1/workspaces/{wid}")


def assert_usable(http: httpx.Client, server: Daemon, wid: str) -> None:
    assert http.get("/v1/health").status_code == 200
    assert server.proc is not None and server.proc.poll() is None, "the daemon died"
    state = http.get(f"/v1/workspaces/{wid}").json()["state"]
    assert state == "running", f"the workspace is {state} after the attack"
    result = run(http, wid, "echo alive")
    assert result["exit_code"] == 0 and result["stdout"] == "alive\n", result


def cgroup_file(controller: str, wid: str, name: str) -> Path:
    return Path("/sys/fs/cgroup") / controller / "corral" / wid / name


# -- memory ---------------------------------------------------------------------------------

HOG = """
import time
chunks, deadline = [], time.time() + 20
while time.time() < deadline and len(chunks) < 1024:  # at most 1 GiB, for at most 20 s
    chunks.append(bytearray(1 << 20))
print('survived', len(chunks))
"""


def test_memory_hog_is_oom_killed_and_the_workspace_survives(
    http: httpx.Client,
    server: Daemon,
    make,  # type: ignore[no-untyped-def]
) -> None:
    ws = make(memory_mib=64)
    limit = cgroup_file("memory", ws["id"], "memory.limit_in_bytes")
    assert int(limit.read_text()) == 64 * 1024 * 1024
    result = py(http, ws["id"], HOG)
    assert "survived" not in result["stdout"], "allocated 1 GiB under a 64 MiB limit"
    assert result["exit_code"] == 137, result
    oom = dict(
        line.split()
        for line in cgroup_file("memory", ws["id"], "memory.oom_control").read_text().splitlines()
    )
    assert int(oom.get("oom_kill", "1")) >= 1, oom
    assert_usable(http, server, ws["id"])
    # The limit holds for the next attempt too, and swap is no way around it.
    assert py(http, ws["id"], HOG)["exit_code"] == 137
    memsw = cgroup_file("memory", ws["id"], "memory.memsw.limit_in_bytes")
    if memsw.exists():
        assert int(memsw.read_text()) == 64 * 1024 * 1024


SPREAD_HOG = """
import os, time
kids = []
for _ in range(6):  # 6 x 40 MiB in a 64 MiB workspace, none big enough alone
    pid = os.fork()
    if pid == 0:
        hold = [bytearray(1 << 20) for _ in range(40)]
        time.sleep(3)
        os._exit(0)
    kids.append(pid)
print([os.waitpid(pid, 0)[1] for pid in kids])
"""


def test_memory_hog_spread_over_processes_does_not_kill_the_workspace(
    http: httpx.Client,
    server: Daemon,
    make,  # type: ignore[no-untyped-def]
) -> None:
    """The OOM killer must pick the hogs, never the workspace's init."""
    ws = make(memory_mib=64)
    py(http, ws["id"], SPREAD_HOG)
    time.sleep(0.5)  # let the supervisor notice a dead init, if it died
    info = http.get(f"/v1/workspaces/{ws['id']}").json()
    assert info["state"] == "running", (
        f"the OOM killer took the init: workspace is {info['state']} "
        f"(last_exit_code={info['last_exit_code']})"
    )
    assert_usable(http, server, ws["id"])


def test_tmpfs_writes_count_against_the_memory_limit(
    http: httpx.Client,
    server: Daemon,
    make,  # type: ignore[no-untyped-def]
) -> None:
    """/dev/shm (a 64 MiB tmpfs) cannot hold more than the workspace's 32 MiB of memory."""
    ws = make(memory_mib=32)
    result = run(http, ws["id"], "head -c 60000000 /dev/zero > /dev/shm/fill", timeout=20)
    assert result["exit_code"] != 0, "stored 60 MB in tmpfs under a 32 MiB memory limit"
    time.sleep(0.5)
    info = http.get(f"/v1/workspaces/{ws['id']}").json()
    assert info["state"] == "running", f"filling /dev/shm took the init: {info['state']}"
    # Free the memory from outside: inside, every new process would hit the limit.
    http.delete(f"/v1/workspaces/{ws['id']}/files", params={"path": "/dev/shm/fill"})
    assert_usable(http, server, ws["id"])


# -- processes ------------------------------------------------------------------------------

BOMB = """
import os, time
kids, failed, deadline = [], None, time.time() + 5
while len(kids) < 2000 and time.time() < deadline:  # a bomb with a fuse: 2000 or 5 s
    try:
        pid = os.fork()
    except OSError as exc:
        failed = exc.errno
        break
    if pid == 0:
        time.sleep(4)
        os._exit(0)
    kids.append(pid)
print(len(kids), failed)
for pid in kids:
    os.kill(pid, 9)
for pid in kids:
    os.waitpid(pid, 0)
"""


def test_fork_bomb_hits_the_pids_limit(
    http: httpx.Client,
    server: Daemon,
    make,  # type: ignore[no-untyped-def]
) -> None:
    ws = make(pids=64)
    assert cgroup_file("pids", ws["id"], "pids.max").read_text().strip() == "64"
    started = time.monotonic()
    result = py(http, ws["id"], BOMB)
    assert result["exit_code"] == 0, result
    forked, errno_ = result["stdout"].split()
    assert errno_ == "11", f"fork never failed ({forked} children)"  # EAGAIN
    assert int(forked) < 64
    assert time.monotonic() - started < 15
    assert_usable(http, server, ws["id"])
    assert int(cgroup_file("pids", ws["id"], "pids.events").read_text().split()[1]) > 0


def test_shell_fork_bomb_is_contained(
    http: httpx.Client,
    server: Daemon,
    make,  # type: ignore[no-untyped-def]
) -> None:
    """The classic bomb, with a fuse: every copy gives up after 2 s (bash's $SECONDS)."""
    ws = make(pids=32)
    bomb = "b() { [ $SECONDS -lt 2 ] || return; b | b & }; b; sleep 2.5"
    started = time.monotonic()
    result = run(http, ws["id"], ["bash", "-c", bomb], timeout=5)
    assert result["exit_code"] in (0, 137), result
    assert int(cgroup_file("pids", ws["id"], "pids.events").read_text().split()[1]) > 0
    deadline = time.monotonic() + 10
    while int(cgroup_file("pids", ws["id"], "pids.current").read_text()) > 2:
        assert time.monotonic() < deadline, "the bomb's processes did not drain"
        time.sleep(0.2)
    assert time.monotonic() - started < 15
    assert_usable(http, server, ws["id"])


# -- CPU ------------------------------------------------------------------------------------

BURN = """
import os, time
def usage():
    with open('/sys/fs/cgroup/cpuacct/cpuacct.usage') as f:
        return int(f.read()) / 1e9
before, start = usage(), time.monotonic()
kids = []
for _ in range(2):  # one burner per host core: the quota is for the whole workspace
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            pass
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
print(usage() - before, time.monotonic() - start)
"""


def test_cpu_quota_holds(http: httpx.Client, make) -> None:  # type: ignore[no-untyped-def]
    ws = make(cpu=0.25)
    assert cgroup_file("cpu", ws["id"], "cpu.cfs_quota_us").read_text().strip() == "25000"
    host_usage = cgroup_file("cpuacct", ws["id"], "cpuacct.usage")
    host_before = int(host_usage.read_text())
    result = py(http, ws["id"], BURN)
    assert result["exit_code"] == 0, result
    used, wall = (float(x) for x in result["stdout"].split())
    host_used = (int(host_usage.read_text()) - host_before) / 1e9
    assert wall >= 1.9
    assert used / wall <= 0.35, f"used {used:.2f} CPU-s in {wall:.2f} s under a 0.25 quota"
    assert host_used / wall <= 0.40, f"host view: {host_used:.2f} CPU-s in {wall:.2f} s"
    assert used / wall >= 0.1, "the burners did not run at all"


# -- runaway commands ---------------------------------------------------------------------------


def test_exec_timeout_kills_the_command_and_its_children(
    http: httpx.Client, workspace: dict
) -> None:
    wid = workspace["id"]
    result = run(http, wid, "sh -c 'sleep 100 & sleep 100'", timeout=1)
    assert result["timed_out"] is True and result["exit_code"] == 137, result
    assert result["duration_ms"] < 5000
    time.sleep(0.3)
    left = run(http, wid, "ps -eo stat=,comm=")["stdout"]
    assert "sleep" not in left, left


def test_exec_timeout_kills_a_detached_grandchild(http: httpx.Client, workspace: dict) -> None:
    """A child that left the process group (setsid) is still part of the command."""
    wid = workspace["id"]
    result = run(http, wid, "setsid sh -c 'sleep 101' & sleep 100", timeout=1)
    assert result["timed_out"] is True
    time.sleep(0.3)
    assert "sleep" not in run(http, wid, "ps -eo comm=")["stdout"]


def test_timed_out_execs_leave_no_zombies(http: httpx.Client, make) -> None:  # type: ignore[no-untyped-def]
    """Each leftover zombie holds a pid of the workspace's pids limit until the daemon exits."""
    ws = make(pids=16)
    results = [run(http, ws["id"], "sleep 100", timeout=0.2) for _ in range(24)]
    time.sleep(0.5)
    table = run(http, ws["id"], "ps -eo stat=,comm=")
    timed_out = sum(r["timed_out"] for r in results)
    assert table["exit_code"] == 0, (
        f"after {timed_out} timed-out execs (pids=16) the workspace cannot run anything: "
        f"{table['stderr'].strip()}"
    )
    zombies = [line for line in table["stdout"].splitlines() if line.startswith("Z")]
    assert not zombies, f"{len(zombies)} zombies left by timed-out execs: {zombies}"
    assert int(cgroup_file("pids", ws["id"], "pids.current").read_text()) <= 2


def _zombie_children(pid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = stat.rsplit(")", 1)
        fields = rest.split()
        if fields[0] == "Z" and int(fields[1]) == pid:
            found.append(f"{entry.name}:{comm.split('(', 1)[1]}")
    return found


def test_daemon_reaps_what_it_starts(http: httpx.Client, server: Daemon, make) -> None:  # type: ignore[no-untyped-def]
    """The daemon is a child subreaper: every orphan it adopts is its to reap."""
    assert server.proc is not None
    before = set(_zombie_children(server.proc.pid))
    for _ in range(3):
        ws = make()
        run(http, ws["id"], "true")
        http.delete(f"/v1/workspaces/{ws['id']}")
    time.sleep(1.0)
    new = set(_zombie_children(server.proc.pid)) - before
    assert not new, f"the daemon left {len(new)} zombie children: {sorted(new)}"
