"""Scoped workspace tokens: an agent's own key reaches its children and nothing else.

A workspace created with `api_access` gets CORRAL_URL and CORRAL_TOKEN. With that token it
creates, runs and destroys children, within the `child_policy` its creator set; every rule
it breaks is a 403 that names the rule; everything else of its tenant (its own workspace
included) and of other tenants is a 404, on every endpoint; its children die with it.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.test_tenancy import MakeTenant, Tenant, bearer, tenant_factory
from tests.integration.test_tenancy_isolation import Victim, cleanup, populate, walk

pytestmark = pytest.mark.integration


@pytest.fixture
def tenants(server: Daemon, http: httpx.Client) -> Iterator[MakeTenant]:
    with tenant_factory(server, http) as make:
        yield make

POLICY = {"max_children": 2, "max_ttl_seconds": 120, "internet": False}


def run(http: httpx.Client, wid: str, command: str | list[str], timeout: float = 60) -> dict:
    response = http.post(f"/v1/workspaces/{wid}/exec",
                         json={"command": command, "timeout": timeout})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def token_of(http: httpx.Client, wid: str) -> str:
    token = run(http, wid, "printenv CORRAL_TOKEN")["stdout"].strip()
    assert token.startswith("crl_"), "the workspace has no CORRAL_TOKEN"
    return token


class Agent:
    """A tenant's workspace with api_access, and an HTTP client holding its token."""

    def __init__(self, server: Daemon, tenant: Tenant, policy: dict[str, Any] | None) -> None:
        spec: dict[str, Any] = {"api_access": True}
        if policy is not None:
            spec["child_policy"] = policy
        self.ws = tenant.create("agent", **spec)
        self.token = token_of(tenant.http, self.ws["id"])
        self.http = httpx.Client(base_url=server.url, headers=bearer(self.token), timeout=120)

    def child(self, name: str, expect: int = 201, **spec: Any) -> dict[str, Any]:
        response = self.http.post("/v1/workspaces", json={"name": name, **spec})
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def agent(server: Daemon, tenants: MakeTenant) -> Iterator[tuple[Tenant, Agent]]:
    acme = tenants("agents")
    made = Agent(server, acme, POLICY)
    yield acme, made
    made.http.close()


def states(server: Daemon, ids: list[str]) -> list[str]:
    marks = ",".join("?" * len(ids))
    rows = dict(server.query(f"SELECT id, state FROM workspaces WHERE id IN ({marks})", *ids))
    return [rows[i] for i in ids]


def test_the_token_creates_and_manages_children_within_the_policy(
    server: Daemon, agent: tuple[Tenant, Agent]
) -> None:
    acme, bot = agent
    ceilings = {"max_memory_mib": 1024, "max_cpu": 1.0, "max_pids": 512,
                "max_rootfs_mib": 1024, "max_disk_mib": 1024}  # the defaults  # fmt: skip
    assert bot.ws["child_policy"] == {**POLICY, "isolation": "container", **ceilings}
    child = bot.child("sandbox", ttl_seconds=60)
    assert child["ttl_seconds"] == 60 and not child["internet"]
    assert run(bot.http, child["id"], "echo from-the-child")["stdout"] == "from-the-child\n"
    put = bot.http.put(f"/v1/workspaces/{child['id']}/files", params={"path": "/srv/in.py"},
                       content=b"print(6 * 7)")  # fmt: skip
    assert put.status_code == 200
    assert run(bot.http, child["id"], "python3 /srv/in.py")["stdout"] == "42\n"
    listed = bot.http.get("/v1/workspaces").json()["workspaces"]
    assert [w["id"] for w in listed] == [child["id"]]  # its children only, not itself
    assert bot.http.delete(f"/v1/workspaces/{child['id']}").json()["state"] == "destroyed"
    # The tenant's own key does not see the children among its workspaces, but pays for them.
    assert child["id"] not in acme.http.get("/v1/workspaces").text


@pytest.mark.parametrize(
    ("spec", "rule"),
    [
        ({}, "max_ttl_seconds"),
        ({"ttl_seconds": 121}, "max_ttl_seconds"),
        ({"ttl_seconds": 60, "on_expire": "pause"}, "max_ttl_seconds"),
        ({"ttl_seconds": 60, "internet": True}, "internet"),
        ({"ttl_seconds": 60, "ports": [8080]}, "internet"),
        ({"ttl_seconds": 60, "api_access": True}, "api_access"),
    ],
)  # fmt: skip
def test_each_policy_rule_refuses_with_its_name(
    agent: tuple[Tenant, Agent], spec: dict[str, Any], rule: str
) -> None:
    _, bot = agent
    refused = bot.child("bad", expect=403, **spec)
    assert refused["error"] == "forbidden" and rule in refused["message"], refused
    assert bot.http.get("/v1/workspaces").json()["workspaces"] == []  # nothing half-made


def test_a_bare_child_is_bounded_by_the_ceilings_and_cannot_exceed_them(
    server: Daemon, tenants: MakeTenant
) -> None:
    """A compromised agent creates children with no limits, or with huge ones: they get the
    policy's ceilings as limits, which hold from inside, and asking for more is refused."""
    acme = tenants("bounded")
    bot = Agent(server, acme, {**POLICY, "max_memory_mib": 64, "max_cpu": 0.5, "max_pids": 64,
                               "max_rootfs_mib": 32, "max_disk_mib": 32})  # fmt: skip
    try:
        bare = bot.child("bare", ttl_seconds=60)
        assert (bare["memory_mib"], bare["cpu"], bare["pids"], bare["rootfs_mib"]) == (
            64, 0.5, 64, 32)  # fmt: skip
        limits = run(bot.http, bare["id"], "cat /sys/fs/cgroup/memory/memory.limit_in_bytes "
                     "/sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/memory.max "
                     "/sys/fs/cgroup/pids.max")["stdout"].split()  # fmt: skip
        assert limits == [str(64 * 1024 * 1024), "64"], limits
        fill = run(bot.http, bare["id"], "dd if=/dev/zero of=/var/fill bs=1M count=100")
        assert fill["exit_code"] != 0 and "No space left" in fill["stderr"]
        for spec, rule in (({"memory_mib": 65}, "max_memory_mib"), ({"cpu": 2}, "max_cpu"),
                           ({"pids": 10_000}, "max_pids"), ({"rootfs_mib": 64}, "max_rootfs_mib"),
                           ({"disk_mib": 33}, "max_disk_mib")):  # fmt: skip
            refused = bot.child("greedy", expect=403, ttl_seconds=60, **spec)
            assert rule in refused["message"], refused
        raised = bot.http.patch(f"/v1/workspaces/{bare['id']}", json={"memory_mib": 4096})
        assert raised.status_code == 403 and "max_memory_mib" in raised.json()["message"]
        small = bot.child("small", ttl_seconds=60, memory_mib=32, rootfs_mib=16, disk_mib=16)
        assert (small["memory_mib"], small["rootfs_mib"], small["disk_mib"]) == (32, 16, 16)
    finally:
        bot.http.close()


def test_null_ceilings_leave_children_unbounded(server: Daemon, tenants: MakeTenant) -> None:
    acme = tenants("unbounded")
    bot = Agent(server, acme, {**POLICY, "max_memory_mib": None, "max_cpu": None,
                               "max_pids": None, "max_rootfs_mib": None})  # fmt: skip
    try:
        child = bot.child("free", ttl_seconds=60, memory_mib=4096)
        assert child["memory_mib"] == 4096 and child["rootfs_mib"] is None
        assert child["cpu"] is None and child["pids"] is None
    finally:
        bot.http.close()


def test_at_most_k_children_and_no_way_around_the_ttl(agent: tuple[Tenant, Agent]) -> None:
    _, bot = agent
    first = bot.child("c1", ttl_seconds=60)
    bot.child("c2", ttl_seconds=60)
    third = bot.child("c3", expect=403, ttl_seconds=60)
    assert "max_children" in third["message"]
    # Changing a child later is held to the same rules.
    forever = bot.http.post(f"/v1/workspaces/{first['id']}/timeout", json={"ttl_seconds": None})
    assert forever.status_code == 403 and "max_ttl_seconds" in forever.json()["message"]
    online = bot.http.post(f"/v1/workspaces/{first['id']}/network", json={"internet": True})
    assert online.status_code == 403 and "internet" in online.json()["message"]
    shorter = bot.http.post(f"/v1/workspaces/{first['id']}/timeout", json={"ttl_seconds": 30})
    assert shorter.status_code == 200
    bot.http.delete(f"/v1/workspaces/{first['id']}")
    bot.child("c4", ttl_seconds=60)  # a freed place can be taken


def test_children_count_against_the_tenants_quotas(server: Daemon, tenants: MakeTenant) -> None:
    small = tenants("small", max_workspaces=2)
    bot = Agent(server, small, POLICY)
    try:
        bot.child("c1", ttl_seconds=60)
        over = bot.child("c2", expect=429, ttl_seconds=60)
        assert "max_workspaces" in over["message"]
    finally:
        bot.http.close()


def test_links_from_children_go_only_back_to_the_parent(
    agent: tuple[Tenant, Agent], tenants: MakeTenant
) -> None:
    acme, bot = agent
    sibling = acme.create("sibling")
    first, second = bot.child("c1", ttl_seconds=60), bot.child("c2", ttl_seconds=60)
    up = bot.http.post("/v1/links", json={"from": first["id"], "to": bot.ws["id"], "port": 8080})
    assert up.status_code == 201, up.text
    at_create = bot.child("c3", expect=403, ttl_seconds=60,
                          links=[{"to": second["id"], "port": 8080}])  # fmt: skip
    assert "link only back" in at_create["message"]
    for target in (second["id"], sibling["id"], "0123456789ab"):
        across = bot.http.post("/v1/links", json={"from": first["id"], "to": target, "port": 80})
        assert across.status_code == 403, across.text
    listed = bot.http.get("/v1/links").json()["links"]
    assert [(lk["from"], lk["to"]) for lk in listed] == [(first["id"], bot.ws["id"])]


def test_children_die_with_their_parent_and_the_token_with_them(
    server: Daemon, agent: tuple[Tenant, Agent]
) -> None:
    acme, bot = agent
    kids = [bot.child(f"c{i}", ttl_seconds=120)["id"] for i in range(2)]
    started = time.perf_counter()
    assert acme.http.delete(f"/v1/workspaces/{bot.ws['id']}").status_code == 200
    print(f"parent and {len(kids)} children destroyed in "
          f"{(time.perf_counter() - started) * 1000:.0f} ms")  # fmt: skip
    assert states(server, kids) == ["destroyed", "destroyed"]
    assert bot.http.get("/v1/workspaces").status_code == 401


def test_the_token_reaches_nothing_but_its_children(
    server: Daemon, http: httpx.Client, agent: tuple[Tenant, Agent], tenants: MakeTenant
) -> None:
    """The whole API, walked with the token against its own tenant's other resources (its
    own workspace among them) and another tenant's."""
    acme, bot = agent
    bot.child("mine", ttl_seconds=120)
    key_id = http.get(f"/v1/admin/tenants/{acme.name}/keys").json()["keys"][0]["id"]
    tenant_stuff = populate(acme.http, acme.name, key_id, {})
    tenant_stuff.known = {"tenant"}  # its own tenant's name is in its scope: acme/<agent>
    # Its own workspace: its id is in the token's scope (acme/<agent>) but it is not a child.
    own = Victim({**tenant_stuff.ids, "workspace": bot.ws["id"]}, known={"tenant", "workspace"})
    try:
        assert walk(server, bot.token, tenant_stuff) >= 40
        walk(server, bot.token, own)
        other = tenants("other")
        other_ws = other.create("theirs")
        assert bot.http.get(f"/v1/workspaces/{other_ws['id']}").status_code == 404
        assert bot.http.get("/v1/admin/tenants").status_code == 404
    finally:
        cleanup(acme.http, tenant_stuff)


AGENT = textwrap.dedent("""
    import json, os, urllib.request
    url, token = os.environ["CORRAL_URL"], os.environ["CORRAL_TOKEN"]
    def call(method, path, body=None):
        request = urllib.request.Request(url + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")
    status, sandbox = call("POST", "/v1/workspaces", {"name": "scratch", "ttl_seconds": 60})
    assert status == 201, sandbox
    status, out = call("POST", f"/v1/workspaces/{sandbox['id']}/exec",
                       {"command": "python3 -c 'print(sum(range(10)))'"})
    parent = os.environ["HOSTNAME"]
    print(json.dumps({"result": out["stdout"], "parent": call("GET", "/v1/workspaces/" + parent)[0],
                      "destroy": call("DELETE", f"/v1/workspaces/{sandbox['id']}")[0]}))
""")


def test_an_agent_runs_code_in_a_sandbox_from_inside(agent: tuple[Tenant, Agent]) -> None:
    """Pattern 2: from inside its workspace, with its own token, over the private network."""
    acme, bot = agent
    out = run(acme.http, bot.ws["id"], ["python3", "-c", AGENT], timeout=120)
    assert out["exit_code"] == 0, out
    assert json.loads(out["stdout"]) == {"result": "45\n", "parent": 404, "destroy": 200}
