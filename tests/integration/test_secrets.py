"""Secrets against the real daemon: the owner's secret store, env secrets (inline and by
reference) that reach the workspace and nothing else: no API response, no log, no byte at rest."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.test_disks import create, files_containing, run

pytestmark = pytest.mark.integration


@pytest.fixture
def secret_name(http: httpx.Client) -> Iterator[str]:
    name = f"s-{secrets.token_hex(4)}"
    yield name
    http.delete(f"/v1/secrets/{name}")


def test_secret_store_api_returns_names_only(http: httpx.Client, secret_name: str) -> None:
    value = f"sk-{secrets.token_hex(16)}"
    put = http.put(f"/v1/secrets/{secret_name}", json={"value": value})
    assert put.status_code == 200 and value not in put.text
    assert put.json()["name"] == secret_name
    listed = http.get("/v1/secrets")
    assert secret_name in [s["name"] for s in listed.json()["secrets"]] and value not in listed.text
    again = http.put(f"/v1/secrets/{secret_name}", json={"value": value + "2"})
    assert again.json()["created_at"] == put.json()["created_at"]
    assert http.delete(f"/v1/secrets/{secret_name}").status_code == 204
    assert http.delete(f"/v1/secrets/{secret_name}").status_code == 404
    assert http.put("/v1/secrets/bad name", json={"value": "x"}).status_code in (404, 422)
    assert http.put(f"/v1/secrets/{secret_name}", json={}).status_code == 422


def test_env_secrets_reach_the_workspace_and_no_response(
    http: httpx.Client, unique_name: str, secret_name: str
) -> None:
    tenant, inline = f"tenant-{secrets.token_hex(12)}", f"inline-{secrets.token_hex(12)}"
    http.put(f"/v1/secrets/{secret_name}", json={"value": tenant})
    created = http.post("/v1/workspaces", json={"name": unique_name, "env": {
        "PLAIN": "p", "OPENAI_API_KEY": {"secret": secret_name},
        "TOKEN": {"value": inline, "secret": True}}})  # fmt: skip
    assert created.status_code == 201, created.text
    ws = created.json()
    assert ws["env_names"] == ["OPENAI_API_KEY", "PLAIN", "TOKEN"]
    assert ws["secret_env_names"] == ["OPENAI_API_KEY", "TOKEN"]
    out = run(http, ws["id"], "echo $PLAIN $OPENAI_API_KEY $TOKEN")
    assert out["stdout"] == f"p {tenant} {inline}\n"
    # The main process has them too (they are in its environment, not only in exec's).
    environ = run(http, ws["id"], "tr '\\0' '\\n' < /proc/1/environ")["stdout"]
    assert f"TOKEN={inline}" in environ.splitlines()
    for response in (http.get(f"/v1/workspaces/{ws['id']}"), http.get("/v1/workspaces"),
                     http.get("/v1/secrets"), http.get("/v1/events")):  # fmt: skip
        assert tenant not in response.text and inline not in response.text
    # In use: the secret cannot be deleted; a new value reaches the next start.
    refused = http.delete(f"/v1/secrets/{secret_name}")
    assert refused.status_code == 409 and unique_name in refused.json()["message"]
    http.put(f"/v1/secrets/{secret_name}", json={"value": "rotated"})
    http.post(f"/v1/workspaces/{ws['id']}/stop")
    http.post(f"/v1/workspaces/{ws['id']}/start")
    assert run(http, ws["id"], "echo $OPENAI_API_KEY")["stdout"] == "rotated\n"
    http.delete(f"/v1/workspaces/{ws['id']}")


def test_reference_to_a_missing_secret_is_refused(http: httpx.Client, unique_name: str) -> None:
    response = http.post("/v1/workspaces", json={"name": unique_name,
                                                 "env": {"K": {"secret": "no-such"}}})  # fmt: skip
    assert response.status_code == 422
    assert "corral secret set no-such" in response.json()["hint"]


def test_planted_secrets_are_nowhere_at_rest_nor_in_the_log(
    server: Daemon, http: httpx.Client, unique_name: str, secret_name: str
) -> None:
    tenant = f"PLANTED-TENANT-{secrets.token_hex(16)}"
    inline = f"PLANTED-INLINE-{secrets.token_hex(16)}"
    http.put(f"/v1/secrets/{secret_name}", json={"value": tenant})
    env = {"A": {"secret": secret_name}, "B": {"value": inline, "secret": True}}
    ws = create(http, unique_name, disk_mib=32, command="sleep 100000", restart="always", env=env)
    assert run(http, ws["id"], "echo $A $B")["stdout"] == f"{tenant} {inline}\n"
    http.post(f"/v1/workspaces/{ws['id']}/stop")
    http.post(f"/v1/workspaces/{ws['id']}/start")
    server.kill9()  # and a daemon restart, which re-reads everything from the store
    server.start()
    with server.http() as again:
        assert run(again, ws["id"], "echo $A $B")["stdout"] == f"{tenant} {inline}\n"
    os.sync()
    needles = []
    for value in (tenant, inline):
        needles += [value.encode(), value.encode("utf-16-le"), base64.b64encode(value.encode())]
    # The whole state dir (database, write-ahead log, workspaces' files, disk images...)
    # and the daemon's log.
    assert not files_containing([server.state_dir, server.log_path], needles)
    # The runtime's bundle holds the container's env (on tmpfs in production), root-only.
    bundle = server.run_dir / "bundles" / ws["id"]
    assert (bundle / "config.json").stat().st_mode & 0o077 == 0
    assert not list(bundle.glob("exec-*.json")), "an exec's process file was left behind"
    with server.http() as again:
        again.delete(f"/v1/workspaces/{ws['id']}")
