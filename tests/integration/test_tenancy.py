"""Tenants, API keys, quotas and the audit log, against the real daemon.

Also the `tenants` fixture the other tenancy tests use: a tenant with its own key, deleted
(keys revoked, workspaces destroyed) after the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon

pytestmark = pytest.mark.integration


@dataclass
class Tenant:
    name: str
    key: str
    http: httpx.Client
    made: list[str] = field(default_factory=list)

    def create(self, name: str, expect: int = 201, **spec: Any) -> dict[str, Any]:
        response = self.http.post("/v1/workspaces", json={"name": name, **spec})
        assert response.status_code == expect, response.text
        return response.json()  # type: ignore[no-any-return]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


MakeTenant = Callable[..., Tenant]


@contextlib.contextmanager
def tenant_factory(server: Daemon, http: httpx.Client) -> Iterator[MakeTenant]:
    """`make(prefix, **quotas)`: a new tenant with a key; all deleted at the end."""
    made: list[Tenant] = []

    def make(prefix: str = "t", **quotas: Any) -> Tenant:
        name = f"{prefix}-{secrets.token_hex(3)}"
        created = http.post("/v1/admin/tenants", json={"name": name, "quotas": quotas})
        assert created.status_code == 201, created.text
        key = http.post(f"/v1/admin/tenants/{name}/keys", json={})
        assert key.status_code == 201, key.text
        client = httpx.Client(base_url=server.url, headers=bearer(key.json()["key"]), timeout=120)
        tenant = Tenant(name, key.json()["key"], client)
        made.append(tenant)
        return tenant

    try:
        yield make
    finally:
        for tenant in made:
            tenant.http.close()
            http.delete(f"/v1/admin/tenants/{tenant.name}")


@pytest.fixture
def tenants(server: Daemon, http: httpx.Client) -> Iterator[MakeTenant]:
    with tenant_factory(server, http) as make:
        yield make


def db_rows(server: Daemon, query: str, *args: object) -> list[tuple[Any, ...]]:
    return server.query(query, *args)


# -- tenants and keys -------------------------------------------------------------------------


def test_tenant_keys_are_shown_once_hashed_at_rest_listed_and_revocable(
    server: Daemon, http: httpx.Client, tenants: MakeTenant
) -> None:
    acme = tenants("acme", max_workspaces=5)
    assert http.post("/v1/admin/tenants", json={"name": acme.name}).status_code == 409
    assert http.post("/v1/admin/tenants", json={"name": "Not/AName"}).status_code == 422
    info = http.get(f"/v1/admin/tenants/{acme.name}").json()
    assert info["quotas"]["max_workspaces"] == 5 and info["usage"]["workspaces"] == 0

    second = http.post(f"/v1/admin/tenants/{acme.name}/keys", json={}).json()
    key = second["key"]
    assert key.startswith("crl_") and second["prefix"] == key[:10] and second["role"] == "member"
    listed = http.get(f"/v1/admin/tenants/{acme.name}/keys").json()["keys"]
    assert {k["id"] for k in listed} >= {second["id"]}
    assert all("key" not in k and "hash" not in k for k in listed)
    assert key not in json.dumps(listed)
    # At rest: a SHA-256 hash only, nowhere the key itself.
    (stored,) = db_rows(server, "SELECT hash FROM api_keys WHERE id = ?", second["id"])
    assert stored[0] != key and len(stored[0]) == 64
    assert key.encode() not in (server.state_dir / "corral.db").read_bytes()

    with httpx.Client(base_url=server.url, headers=bearer(key)) as client:
        assert client.get("/v1/workspaces").status_code == 200
        used = {k["id"]: k for k in http.get(f"/v1/admin/tenants/{acme.name}/keys").json()["keys"]}
        assert used[second["id"]]["last_used_at"] is not None
        # Not an admin: the admin API does not exist for this key.
        assert client.get("/v1/admin/tenants").status_code == 404
        assert client.get(f"/v1/admin/tenants/{acme.name}").status_code == 404
        revoked = http.delete(f"/v1/admin/tenants/{acme.name}/keys/{second['id']}")
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        assert client.get("/v1/workspaces").status_code == 401
    assert acme.http.get("/v1/workspaces").status_code == 200  # the other key still works
    # Admin keys only for the admin tenant; unknown tenants and keys are 404.
    assert http.post(f"/v1/admin/tenants/{acme.name}/keys",
                     json={"role": "admin"}).status_code == 422  # fmt: skip
    assert http.post("/v1/admin/tenants/nobody-here/keys", json={}).status_code == 404
    assert http.delete(f"/v1/admin/tenants/{acme.name}/keys/nope").status_code == 404


def test_deleting_a_tenant_revokes_its_keys_and_destroys_its_workspaces(
    server: Daemon, http: httpx.Client, tenants: MakeTenant
) -> None:
    gone = tenants("gone")
    ids = [gone.create(f"w{i}")["id"] for i in range(2)]
    deleted = http.delete(f"/v1/admin/tenants/{gone.name}")
    assert deleted.status_code == 200 and deleted.json()["workspaces_destroyed"] == 2
    assert gone.http.get("/v1/workspaces").status_code == 401
    states = db_rows(server, f"SELECT state FROM workspaces WHERE id IN ({','.join('?' * 2)})",
                     *ids)  # fmt: skip
    assert states == [("destroyed",), ("destroyed",)]
    assert http.get(f"/v1/admin/tenants/{gone.name}").status_code == 404


# -- quotas ---------------------------------------------------------------------------------


def test_each_quota_refuses_with_its_name_and_nothing_half_created(
    server: Daemon, http: httpx.Client, tenants: MakeTenant
) -> None:
    acme = tenants("quota", max_workspaces=2, max_cpu=1.0, max_memory_mib=512,
                   max_disk_mib=64, max_temporary=1)  # fmt: skip
    small = {"cpu": 0.5, "memory_mib": 128}
    acme.create("temp", ttl_seconds=600, **small)
    dirs_before = set(os.listdir(server.state_dir / "workspaces"))
    refusals = {
        "max_temporary": {"name": "temp2", "ttl_seconds": 60, **small},
        "max_cpu": {"name": "big-cpu", "cpu": 0.75, "memory_mib": 128},
        "max_memory_mib": {"name": "big-mem", "cpu": 0.25, "memory_mib": 1024},
        "max_disk_mib": {"name": "big-disk", "disk_mib": 100, **small},
    }
    for quota, body in refusals.items():
        refused = acme.http.post("/v1/workspaces", json=body)
        assert refused.status_code == 429, (quota, refused.text)
        assert refused.json()["error"] == "quota_exceeded" and quota in refused.json()["message"]
    volume = acme.http.post("/v1/volumes", json={"name": "big", "size_mib": 100})
    assert volume.status_code == 429 and "max_disk_mib" in volume.json()["message"]
    assert acme.http.get("/v1/volumes").json()["volumes"] == []
    no_limits = acme.http.post("/v1/workspaces", json={"name": "unlimited"})
    assert no_limits.status_code == 422 and "cpu" in no_limits.json()["message"]
    acme.create("perm", **small)
    full = acme.http.post("/v1/workspaces", json={"name": "third", "cpu": 0.01,
                                                   "memory_mib": 16})  # fmt: skip
    assert full.status_code == 429 and "max_workspaces" in full.json()["message"]

    # Nothing of a refused workspace exists: no record, no directory, no container.
    rows = db_rows(server, "SELECT name FROM workspaces WHERE owner = ?", acme.name)
    assert sorted(r[0] for r in rows) == ["perm", "temp"]
    new_dirs = set(os.listdir(server.state_dir / "workspaces")) - dirs_before
    assert len(new_dirs) == 1  # "perm" only
    usage = http.get(f"/v1/admin/tenants/{acme.name}").json()["usage"]
    assert usage == {"workspaces": 2, "cpu": 1.0, "memory_mib": 256, "disk_mib": 0,
                     "temporary": 1}  # fmt: skip

    # A freed place can be taken again; a lowered quota stops growth, not what runs.
    acme.http.delete("/v1/workspaces/temp")
    acme.create("again", ttl_seconds=600, **small)
    http.patch(f"/v1/admin/tenants/{acme.name}", json={"quotas": {"max_workspaces": 1}})
    assert acme.http.get("/v1/workspaces/perm").json()["state"] == "running"
    assert acme.http.post("/v1/workspaces/perm/exec", json={"command": "true"}).status_code == 200
    lowered = acme.http.post("/v1/workspaces", json={"name": "more"})
    assert lowered.status_code == 429 and "max_workspaces" in lowered.json()["message"]


def test_quota_holds_under_concurrent_creates(server: Daemon, tenants: MakeTenant) -> None:
    racer = tenants("race", max_workspaces=3)
    codes: list[int] = []

    def create(i: int) -> None:
        with httpx.Client(base_url=server.url, headers=bearer(racer.key), timeout=120) as c:
            codes.append(c.post("/v1/workspaces", json={"name": f"r{i}"}).status_code)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [201] * 3 + [429] * 7, codes
    rows = db_rows(server, "SELECT count(*) FROM workspaces WHERE owner = ?", racer.name)
    assert rows == [(3,)]


# -- the audit log --------------------------------------------------------------------------


def test_every_mutating_call_is_audited(
    server: Daemon, http: httpx.Client, tenants: MakeTenant
) -> None:
    acme = tenants("audit")
    ws = acme.create("w")
    acme.http.post(f"/v1/workspaces/{ws['id']}/exec", json={"command": "true"})
    acme.http.get(f"/v1/workspaces/{ws['id']}")  # reads are not audited
    acme.http.delete("/v1/workspaces/no-such-thing")
    acme.http.delete(f"/v1/workspaces/{ws['id']}")
    httpx.post(f"{server.url}/v1/workspaces", json={"name": "x"},
               headers=bearer("crl_forged-key"))  # fmt: skip

    entries = http.get("/v1/admin/audit", params={"tenant": acme.name}).json()["entries"]
    seen = [(e["action"], e["status"]) for e in reversed(entries)]
    assert seen == [
        ("POST /v1/workspaces", 201),
        ("POST /v1/workspaces/{ref}/exec", 200),
        ("DELETE /v1/workspaces/{ref}", 404),
        ("DELETE /v1/workspaces/{ref}", 200),
    ], seen
    prefix = acme.key[:10]
    assert all(e["key_prefix"] == prefix and e["tenant"] == acme.name for e in entries)
    assert entries[-1]["target"] == {"created": ws["id"]}
    assert entries[0]["target"] == {"ref": ws["id"]}
    assert all(e["time"] and e["duration_ms"] >= 0 for e in entries)
    anonymous = http.get("/v1/admin/audit", params={"action": "POST /v1/workspaces"}).json()
    forged = [e for e in anonymous["entries"] if e["key_prefix"] == "crl_forged"]
    assert forged and forged[0]["status"] == 401 and forged[0]["tenant"] is None
    assert acme.http.get("/v1/admin/audit").status_code == 404


# -- the CLI --------------------------------------------------------------------------------


def corral(server: Daemon, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CORRAL_URL": server.url, "CORRAL_API_KEY": key or server.api_key}
    return subprocess.run([sys.executable, "-m", "corral.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_cli_admin_tenants_and_keys(server: Daemon, http: httpx.Client) -> None:
    name = f"cli-{secrets.token_hex(3)}"
    try:
        made = corral(server, "admin", "tenant", "create", name, "--max-workspaces", "2")
        assert made.returncode == 0, made.stderr
        printed_name, key = made.stdout.split()
        assert printed_name == name and key.startswith("crl_")
        assert "shown this once" in made.stderr
        listed = corral(server, "admin", "tenant", "ls")
        assert name in listed.stdout and "0/2" in listed.stdout
        second = corral(server, "admin", "key", "create", name, "--json")
        second_id = json.loads(second.stdout)["id"]
        keys = corral(server, "admin", "key", "ls", name)
        assert key[:10] in keys.stdout and second_id in keys.stdout and key not in keys.stdout
        assert corral(server, "ls", key=key).returncode == 0  # the new key works
        assert corral(server, "admin", "key", "revoke", name, second_id).returncode == 0
        revoked = json.loads(corral(server, "admin", "key", "ls", name, "--json").stdout)
        assert [k["revoked_at"] is not None for k in revoked if k["id"] == second_id] == [True]
        denied = corral(server, "admin", "tenant", "ls", key=key)
        assert denied.returncode == 1 and "error" in denied.stderr
        audit = corral(server, "admin", "audit", "--tenant", name)
        assert audit.returncode == 0
        removed = corral(server, "admin", "tenant", "rm", name)
        assert removed.returncode == 0 and "0 workspaces destroyed" in removed.stdout
    finally:
        http.delete(f"/v1/admin/tenants/{name}")
