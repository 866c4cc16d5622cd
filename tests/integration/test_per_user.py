"""Pattern 4, per-user isolated agents: one tenant and one workspace per end user.

Sign-up makes the user a tenant (quotas, its own key) and a workspace with its own
encrypted disk (its own key), its own API token, and an idle timeout. Idle, it is paused;
the user's next request resumes it in milliseconds. Account deletion destroys everything,
by cryptographic erasure. Two users' workspaces attack each other from inside, under both
isolation levels, and find nothing of the other.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.network_probes import probe, reached, serve
from tests.integration.test_disks import files_containing, image_of, wrapped_key
from tests.integration.test_tenancy import bearer
from tests.integration.test_tenancy_isolation import Victim, walk

pytestmark = pytest.mark.integration

QUOTAS = {"max_workspaces": 3, "max_cpu": 1.0, "max_memory_mib": 768, "max_disk_mib": 256,
          "max_temporary": 2}  # fmt: skip


@dataclass
class User:
    tenant: str
    key: str
    http: httpx.Client
    ws: dict[str, Any]
    token: str = ""

    def run(self, command: str | list[str], timeout: float = 60) -> dict[str, Any]:
        response = self.http.post(f"/v1/workspaces/{self.ws['id']}/exec",
                                  json={"command": command, "timeout": timeout})  # fmt: skip
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


SignUp = Callable[..., User]


@pytest.fixture
def sign_up(server: Daemon, http: httpx.Client) -> Iterator[SignUp]:
    users: list[User] = []

    def make(isolation: str = "container", idle: int | None = 1) -> User:
        tenant = f"user-{secrets.token_hex(4)}"
        assert http.post("/v1/admin/tenants", json={"name": tenant, "quotas": QUOTAS}
                         ).status_code == 201  # fmt: skip
        key = http.post(f"/v1/admin/tenants/{tenant}/keys", json={}).json()["key"]
        client = httpx.Client(base_url=server.url, headers=bearer(key), timeout=120)
        created = client.post("/v1/workspaces", json={
            "name": "home", "cpu": 0.5, "memory_mib": 256, "disk_mib": 64,
            "idle_timeout_seconds": idle, "api_access": True, "isolation": isolation,
        })  # fmt: skip
        assert created.status_code == 201, created.text
        user = User(tenant, key, client, created.json())
        users.append(user)
        user.token = user.run("printenv CORRAL_TOKEN")["stdout"].strip()
        return user

    yield make
    for user in users:
        user.http.close()
        http.delete(f"/v1/admin/tenants/{user.tenant}")


def state(user: User) -> dict[str, Any]:
    return user.http.get(f"/v1/workspaces/{user.ws['id']}").json()  # type: ignore[no-any-return]


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


# -- the lifecycle of a user ------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ["container", "gvisor"])
def test_sign_up_idle_pause_resume_on_request_and_account_deletion(
    server: Daemon, http: httpx.Client, sign_up: SignUp, isolation: str
) -> None:
    if isolation not in http.get("/v1/info").json()["isolation"]:
        pytest.skip(f"isolation {isolation!r} is not available on this host")
    alice = sign_up(isolation)
    wid = alice.ws["id"]
    marker = f"ALICE-PLAINTEXT-{secrets.token_hex(16)}"
    alice.run(f"yes {marker} | head -c 131072 > /data/notes.txt; sync")
    assert alice.run("cat /data/notes.txt | head -1")["stdout"] == marker + "\n"

    # Idle: nobody calls, the CPU rests -> paused by the supervisor.
    assert wait_for(lambda: state(alice)["state"] == "paused"), state(alice)
    assert state(alice)["paused_reason"] == "idle"
    # The next request resumes it, transparently; how long does the user wait?
    latencies, running = [], []
    for round_ in range(7):
        if round_:  # the first pause was the idle one; then pause by hand to measure again
            assert alice.http.post(f"/v1/workspaces/{wid}/pause").json()["state"] == "paused"
        latencies.append(_timed(lambda: alice.run("cat /data/notes.txt | wc -c")))
        assert state(alice)["state"] == "running"
        running.append(_timed(lambda: alice.run("cat /data/notes.txt | wc -c")))
    events = alice.http.get("/v1/events", params={"workspace": wid, "type": "resumed"}).json()
    assert events["events"] and events["events"][0]["data"]["reason"] == "exec"
    resumed = http.get("/v1/admin/audit", params={"tenant": alice.tenant}).json()
    assert resumed["entries"], "the user's calls are audited"
    paused_ms, running_ms = statistics.median(latencies), statistics.median(running)
    print(f"per-user workspace ({isolation}): a request to the paused workspace "
          f"{paused_ms:.1f} ms median (resume included), to the running one {running_ms:.1f} "
          f"ms: resume adds {paused_ms - running_ms:.1f} ms")  # fmt: skip
    assert paused_ms < 1000

    # Account deletion: everything goes; the disk by cryptographic erasure.
    key_id = f"disk:ws-{wid}"
    assert wrapped_key(server, key_id) is not None
    deleted = http.delete(f"/v1/admin/tenants/{alice.tenant}")
    assert deleted.status_code == 200 and deleted.json()["workspaces_destroyed"] == 1
    assert alice.http.get("/v1/workspaces").status_code == 401
    assert not image_of(server, wid).exists() and wrapped_key(server, key_id) is None
    os.sync()
    assert not files_containing([server.state_dir], [marker.encode()])


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def test_each_user_has_its_own_disk_key_and_quota(server: Daemon, sign_up: SignUp) -> None:
    alice, bob = sign_up(idle=None), sign_up(idle=None)
    keys = {wrapped_key(server, f"disk:ws-{u.ws['id']}") for u in (alice, bob)}
    assert len(keys) == 2 and None not in keys
    too_big = alice.http.post("/v1/workspaces", json={"name": "big", "cpu": 0.75,
                                                       "memory_mib": 64})  # fmt: skip
    assert too_big.status_code == 429 and "max_cpu" in too_big.json()["message"]


# -- two users attack each other from inside ----------------------------------------------

LISTEN = textwrap.dedent("""
    import ctypes, os, socket, sys, time
    from multiprocessing import shared_memory
    marker = sys.argv[1]
    # System V shared memory, under a key the other user knows (from the marker).
    assert ctypes.CDLL(None).shmget(int(marker[-8:], 16), 4096, 0o1000 | 0o666) >= 0
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind("\\0corral-" + marker); abstract.listen()
    shm = shared_memory.SharedMemory(name="corral-" + marker, create=True, size=4096)
    shm.buf[:len(marker)] = marker.encode()
    open("/tmp/ready", "w").close()
    time.sleep(3600)
""")

ATTACK = textwrap.dedent("""
    import ctypes, glob, json, os, socket, subprocess, sys, urllib.request
    from multiprocessing import shared_memory
    marker = sys.stdin.read().strip()  # not in argv: the attacker's own ps would show it
    victim_id, victim_ip = sys.argv[1:3]
    found = {}
    ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    found["processes"] = marker in ps
    environ = b""
    for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
        try:
            environ += open(path, "rb").read()
        except OSError:
            pass
    found["proc"] = marker.encode() in environ
    found["proc_net_unix"] = marker in open("/proc/net/unix").read()
    grep = subprocess.run(["grep", "-rl", marker, "/", "--exclude-dir=proc", "--exclude-dir=sys",
                           "--exclude-dir=usr"], capture_output=True, text=True)
    found["files"] = bool(grep.stdout.strip())
    found["dev_shm"] = any(marker in name for name in os.listdir("/dev/shm"))
    try:
        shared_memory.SharedMemory(name="corral-" + marker)
        found["posix_shm"] = True
    except FileNotFoundError:
        found["posix_shm"] = False
    found["sysv_shm"] = ctypes.CDLL(None).shmget(int(marker[-8:], 16), 0, 0) >= 0
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect("\\0corral-" + marker)
        found["abstract_socket"] = True
    except OSError:
        found["abstract_socket"] = False
    url, token = os.environ["CORRAL_URL"], os.environ["CORRAL_TOKEN"]
    api = {}
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/pause"), ("GET", "/logs"),
                         ("GET", "/files?path=/etc/hostname")):
        request = urllib.request.Request(f"{url}/v1/workspaces/{victim_id}{path}", method=method,
                                         headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                api[f"{method} {path}"] = response.status
        except urllib.error.HTTPError as error:
            api[f"{method} {path}"] = error.code
    found["api"] = api
    print(json.dumps(found))
""")


def attack(attacker: User, victim: User, marker: str) -> dict[str, Any]:
    response = attacker.http.post(f"/v1/workspaces/{attacker.ws['id']}/exec", json={
        "command": ["python3", "-c", ATTACK, victim.ws["id"], victim.ws["ip"] or ""],
        "stdin": marker, "timeout": 120})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("isolation", ["container", "gvisor"])
def test_two_users_attack_each_other_and_see_nothing(
    server: Daemon, http: httpx.Client, sign_up: SignUp, isolation: str
) -> None:
    if isolation not in http.get("/v1/info").json()["isolation"]:
        pytest.skip(f"isolation {isolation!r} is not available on this host")
    users = sign_up(isolation, idle=None), sign_up(isolation, idle=None)
    markers = [f"secret{secrets.token_hex(8)}" for _ in users]
    for user, marker in zip(users, markers, strict=True):
        user.run(f"echo {marker} > /data/{marker}.txt; echo {marker} > /srv/{marker}; "
                 f"echo {marker} > /tmp/{marker}; echo {marker} > /dev/shm/{marker}; "
                 f"nohup sleep 4242.{len(marker)} {marker} >/dev/null 2>&1 &")  # fmt: skip
        user.run(["sh", "-c", 'nohup python3 -c "$0" $1 >/dev/null 2>&1 &', LISTEN, marker])
        assert wait_for(lambda u=user: u.run("test -e /tmp/ready")["exit_code"] == 0)  # type: ignore[misc]
        serve(user.http, user.ws["id"], 7000, banner=marker)
        # Controls: each user finds its own things with the same probes.
        own = json.loads(attack(user, user, marker)["stdout"])
        assert own["processes"] and own["files"] and own["dev_shm"] and own["posix_shm"], own
        assert own["abstract_socket"] and own["sysv_shm"], own
    for (attacker, victim), marker in zip((users, users[::-1]), markers[::-1], strict=True):
        out = attack(attacker, victim, marker)
        assert out["exit_code"] == 0, out
        found = json.loads(out["stdout"])
        api = found.pop("api")
        assert not any(found.values()), f"{attacker.tenant} found {found}"
        assert set(api.values()) == {404}, api
        # The network: the victim listens on 7000 (it reaches itself there); the attacker
        # cannot connect.
        if victim.ws["ip"]:
            target = f"{victim.ws['ip']}:7000"
            assert reached(probe(victim.http, victim.ws["id"], target, timeout=2)) == {target}
            assert not reached(probe(attacker.http, attacker.ws["id"], target, timeout=1))
        # And from outside, with the attacker's own key and token, on every endpoint.
        with httpx.Client(base_url=server.url, headers=bearer(attacker.key)) as client:
            assert client.get(f"/v1/workspaces/{victim.ws['id']}").status_code == 404
        walk(server, attacker.token, Victim({"workspace": victim.ws["id"],
                                             "tenant": victim.tenant}), strict=False)  # fmt: skip
    for user in users:  # the victims' workspaces are untouched
        assert state(user)["state"] == "running"
