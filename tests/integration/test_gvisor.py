"""The same features under both isolation levels: `container` (crun/runc) and `gvisor` (runsc).

Every test runs once per level: exec, files, limits, pause/resume, stop/start, disks, links,
and re-adoption after a daemon crash. Where gVisor differs by design (its own kernel; the
host sees one sandbox, so running out of memory or pids kills the sandbox rather than one
process in it) the test says so and checks that the difference is contained.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.network_probes import probe, reached, serve

pytestmark = pytest.mark.integration

LEVELS = ("container", "gvisor")
PIDS_OVERHEAD = 256  # corral.drivers.runtime.runsc.PIDS_OVERHEAD


@pytest.fixture(params=LEVELS)
def isolation(request: pytest.FixtureRequest, http: httpx.Client) -> str:
    level: str = request.param
    if level not in http.get("/v1/info").json().get("isolation", ["container"]):
        pytest.skip(f"isolation {level!r} is not available on this host (runsc missing?)")
    return level


Make = Callable[..., dict[str, Any]]


@pytest.fixture
def make(http: httpx.Client, unique_name: str, isolation: str) -> Iterator[Make]:
    made: list[str] = []

    def create(expect: int = 201, **spec: Any) -> dict[str, Any]:
        response = http.post("/v1/workspaces", json={"name": f"{unique_name}-{len(made)}",
                                                      "isolation": isolation, **spec})  # fmt: skip
        assert response.status_code == expect, response.text
        if expect == 201:
            made.append(response.json()["id"])
        return response.json()  # type: ignore[no-any-return]

    yield create
    for wid in made:
        http.delete(f"/v1/workspaces/{wid}")


def run(http: httpx.Client, wid: str, command: str | list[str], timeout: float = 30,
        **extra: Any) -> dict[str, Any]:  # fmt: skip
    response = http.post(f"/v1/workspaces/{wid}/exec",
                         json={"command": command, "timeout": timeout, **extra})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def cgroup(controller: str, wid: str, name: str) -> Path:
    return Path("/sys/fs/cgroup") / controller / "corral" / wid / name


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


# -- what runs it ------------------------------------------------------------------------------


def test_create_and_exec_latency_and_which_kernel(
    http: httpx.Client, make: Make, isolation: str
) -> None:
    started = time.perf_counter()
    ws = make()
    created_ms = (time.perf_counter() - started) * 1000
    assert ws["isolation"] == isolation
    assert ws["runtime"] == ("runsc" if isolation == "gvisor" else http.get("/v1/info").json()[
        "runtime"])  # fmt: skip
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        assert run(http, ws["id"], ["true"])["exit_code"] == 0
        timings.append((time.perf_counter() - started) * 1000)
    kernel = run(http, ws["id"], "dmesg 2>/dev/null | head -1; uname -r")["stdout"]
    host = Path("/proc/sys/kernel/osrelease").read_text().strip()
    if isolation == "gvisor":
        assert "gVisor" in kernel and host not in kernel, kernel
    else:
        assert host in kernel
    print(f"{isolation}: create {created_ms:.0f} ms, exec median "
          f"{statistics.median(timings):.0f} ms (API round trip)")  # fmt: skip


def test_unknown_isolation_is_refused(http: httpx.Client, unique_name: str) -> None:
    bad = http.post("/v1/workspaces", json={"name": unique_name, "isolation": "vm"})
    assert bad.status_code == 422 and "isolation" in bad.json()["message"]


# -- exec -------------------------------------------------------------------------------------


def test_exec(http: httpx.Client, make: Make) -> None:
    wid = make()["id"]
    out = run(http, wid, "echo out; echo err >&2; exit 7")
    assert (out["exit_code"], out["stdout"], out["stderr"]) == (7, "out\n", "err\n")
    code = "import os,sys; print(sys.stdin.read().upper(), os.getcwd(), os.environ['X'])"
    out = run(http, wid, ["python3", "-c", code], stdin="hello", env={"X": "42"}, cwd="/tmp")
    assert out["stdout"] == "HELLO /tmp 42\n"
    assert run(http, wid, ["echo", "$HOME; rm -rf /"])["stdout"] == "$HOME; rm -rf /\n"
    quick = run(http, wid, "sleep 60 & echo done", timeout=10)
    assert quick["stdout"] == "done\n" and quick["duration_ms"] < 3000
    big = run(http, wid, "head -c 3000000 /dev/zero | tr '\\0' a")
    assert len(big["stdout"]) == 3_000_000


def test_exec_timeout_kills_the_tree_and_leaves_no_zombies(http: httpx.Client, make: Make) -> None:
    wid = make()["id"]
    out = run(http, wid, "setsid sh -c 'sleep 101' & sh -c 'sleep 100 & sleep 100'", timeout=1)
    assert out["timed_out"] is True and out["exit_code"] == 137, out
    assert out["duration_ms"] < 5000
    for _ in range(5):
        run(http, wid, "sleep 100", timeout=0.2)
    time.sleep(0.3)
    table = run(http, wid, "ps -eo stat=,comm=")["stdout"]
    assert "sleep" not in table, table
    assert not [line for line in table.splitlines() if line.startswith("Z")], table


# -- files ------------------------------------------------------------------------------------


def test_files_both_ways(http: httpx.Client, make: Make) -> None:
    wid = make()["id"]
    for path in ("/srv/from-api.txt", "/tmp/from-api.txt"):
        put = http.put(f"/v1/workspaces/{wid}/files", params={"path": path}, content=b"api")
        assert put.status_code == 200, put.text
        assert run(http, wid, ["cat", path])["stdout"] == "api"
    run(http, wid, "mkdir -p /srv/d && echo inside > /srv/d/in.txt && echo t > /tmp/in.txt")
    for path, data in (("/srv/d/in.txt", b"inside\n"), ("/tmp/in.txt", b"t\n")):
        assert http.get(f"/v1/workspaces/{wid}/files", params={"path": path}).content == data
    names = [e["name"] for e in http.get(f"/v1/workspaces/{wid}/files/list",
                                         params={"path": "/srv/d"}).json()["entries"]]  # fmt: skip
    assert names == ["in.txt"]
    assert http.delete(f"/v1/workspaces/{wid}/files",
                       params={"path": "/srv/d", "recursive": True}).status_code == 204
    assert run(http, wid, "test -e /srv/d")["exit_code"] == 1
    # Confined to the workspace's root, whatever the root is under each runtime.
    escape = http.get(f"/v1/workspaces/{wid}/files", params={"path": "/../../etc/shadow"})
    assert escape.status_code in (403, 404) or escape.content != Path("/etc/shadow").read_bytes()


# -- limits -----------------------------------------------------------------------------------

HOG = """
import time
chunks, deadline = [], time.time() + 20
while time.time() < deadline and len(chunks) < 1024:
    chunks.append(bytearray(1 << 20))
print('survived', len(chunks))
"""


def test_memory_limit_holds(
    http: httpx.Client, server: Daemon, make: Make, isolation: str
) -> None:
    ws = make(memory_mib=128, command="sleep infinity", restart="always")
    assert int(cgroup("memory", ws["id"], "memory.limit_in_bytes").read_text()) == 128 << 20
    out = run(http, ws["id"], ["python3", "-c", HOG], timeout=40) if isolation == "container" \
        else http.post(f"/v1/workspaces/{ws['id']}/exec",
                       json={"command": ["python3", "-c", HOG], "timeout": 40}).json()
    assert "survived" not in str(out.get("stdout")), "1 GiB allocated under a 128 MiB limit"
    assert server.proc is not None and server.proc.poll() is None
    if isolation == "gvisor":
        # The host OOM killer sees one process, the sandbox: it goes, and is restarted.
        assert wait_for(lambda: http.get(f"/v1/workspaces/{ws['id']}").json()[
            "restart_count"] >= 1, timeout=20)  # fmt: skip
        wait_for(lambda: http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "running")
    else:
        assert out["exit_code"] == 137
    assert run(http, ws["id"], "echo alive")["stdout"] == "alive\n"


def test_pids_limit_bounds_a_fork_bomb(
    http: httpx.Client, server: Daemon, make: Make, isolation: str
) -> None:
    ws = make(pids=64, command="sleep infinity", restart="always")
    limit = 64 + (PIDS_OVERHEAD if isolation == "gvisor" else 0)
    assert int(cgroup("pids", ws["id"], "pids.max").read_text()) == limit
    bomb = "b() { [ $SECONDS -lt 2 ] || return; b | b & }; b; sleep 2.5"
    http.post(f"/v1/workspaces/{ws['id']}/exec",
              json={"command": ["bash", "-c", bomb], "timeout": 5})  # fmt: skip
    events = cgroup("pids", ws["id"], "pids.events")
    assert wait_for(lambda: not events.exists() or int(events.read_text().split()[1]) > 0)
    assert server.proc is not None and server.proc.poll() is None
    wait_for(lambda: http.get(f"/v1/workspaces/{ws['id']}").json()["state"] == "running", 20)
    assert wait_for(lambda: http.post(f"/v1/workspaces/{ws['id']}/exec",
                                      json={"command": "echo ok"}).json().get("stdout") == "ok\n",
                    timeout=20)  # fmt: skip


BURN = """
import os, time
kids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 2
        while time.monotonic() < end:
            pass
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
"""


def test_cpu_quota_holds(http: httpx.Client, make: Make) -> None:
    ws = make(cpu=0.25)
    assert cgroup("cpu", ws["id"], "cpu.cfs_quota_us").read_text().strip() == "25000"
    usage = cgroup("cpuacct", ws["id"], "cpuacct.usage")
    before, started = int(usage.read_text()), time.monotonic()
    assert run(http, ws["id"], ["python3", "-c", BURN])["exit_code"] == 0
    wall = time.monotonic() - started
    used = (int(usage.read_text()) - before) / 1e9
    assert used / wall <= 0.40, f"{used:.2f} CPU-s in {wall:.2f} s under a 0.25 quota"


# -- lifecycle --------------------------------------------------------------------------------


def test_pause_freezes_and_resume_continues(
    http: httpx.Client, server: Daemon, make: Make, isolation: str
) -> None:
    wid = make()["id"]
    run(http, wid, "nohup sh -c 'while :; do date +%s%N >> /tmp/tick; sleep 0.05; done' "
                   ">/dev/null 2>&1 &")  # fmt: skip
    time.sleep(0.4)
    started = time.perf_counter()
    assert http.post(f"/v1/workspaces/{wid}/pause").json()["state"] == "paused"
    paused_ms = (time.perf_counter() - started) * 1000
    tick = server.state_dir / "workspaces" / wid / "upper" / "tmp" / "tick"  # from the host
    before = tick.read_bytes()
    time.sleep(0.5)
    assert tick.read_bytes() == before, "a paused workspace kept running"
    started = time.perf_counter()
    assert run(http, wid, "echo awake")["stdout"] == "awake\n"  # resumes transparently
    resumed_ms = (time.perf_counter() - started) * 1000
    assert http.get(f"/v1/workspaces/{wid}").json()["state"] == "running"
    time.sleep(0.3)
    assert len(tick.read_bytes()) > len(before)
    print(f"{isolation}: pause {paused_ms:.0f} ms, resume + exec {resumed_ms:.0f} ms")


def test_stop_start_keeps_files(http: httpx.Client, make: Make) -> None:
    wid = make()["id"]
    run(http, wid, "echo kept > /srv/keep.txt")
    assert http.post(f"/v1/workspaces/{wid}/stop").json()["state"] == "stopped"
    assert http.post(f"/v1/workspaces/{wid}/start").json()["state"] == "running"
    assert run(http, wid, "cat /srv/keep.txt")["stdout"] == "kept\n"


def test_disk_persists(http: httpx.Client, make: Make) -> None:
    ws = make(disk_mib=64)
    run(http, ws["id"], "echo on-disk > /data/f && sync")
    df = run(http, ws["id"], "df -m /data | tail -1")["stdout"].split()
    assert 40 <= int(df[1]) <= 64, df
    http.post(f"/v1/workspaces/{ws['id']}/stop")
    http.post(f"/v1/workspaces/{ws['id']}/start")
    assert run(http, ws["id"], "cat /data/f")["stdout"] == "on-disk\n"
    full = run(http, ws["id"], "head -c 100000000 /dev/zero > /data/big; echo $?")
    assert full["stdout"].strip() != "0", "wrote 100 MB on a 64 MiB disk"


def test_links(http: httpx.Client, make: Make) -> None:
    db = make()
    app = make(links=[{"to": db["name"], "port": 5432}])
    other = make()
    serve(http, db["id"], 5432, 5433, banner="db")
    got = probe(http, app["id"], f"{db['ip']}:5432", f"{db['ip']}:5433", timeout=2)
    assert reached(got) == {f"{db['ip']}:5432"}, got
    assert got[f"{db['ip']}:5432"] == "ok:db:5432"
    assert not reached(probe(http, other["id"], f"{db['ip']}:5432", timeout=1))


def test_survives_a_daemon_crash(server: Daemon, make: Make, isolation: str) -> None:
    with server.http() as http:
        wid = make()["id"]
        run(http, wid, "nohup sleep 1000 >/dev/null 2>&1 &")
        before = run(http, wid, "pgrep -x sleep")["stdout"]
    server.kill9()
    server.start()
    with server.http() as http:
        assert http.get(f"/v1/workspaces/{wid}").json()["state"] == "running"
        assert run(http, wid, "pgrep -x sleep")["stdout"] == before
        assert http.post(f"/v1/workspaces/{wid}/pause").json()["state"] == "paused"
        assert http.post(f"/v1/workspaces/{wid}/resume").json()["state"] == "running"
