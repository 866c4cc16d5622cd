"""`corral mcp`, driven by the official MCP client over stdio, against the real daemon: an
assistant creates a sandbox, writes and runs code in it, reads the result, destroys it; a
corral error comes back as a tool error the model can read; a tenant's key sees only its own
workspaces through the tools."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx
import pytest
from mcp import Client, StdioServerParameters
from tests.conftest import Daemon

pytestmark = pytest.mark.integration


def params(server: Daemon, api_key: str) -> StdioServerParameters:
    env = {"CORRAL_URL": server.url, "CORRAL_API_KEY": api_key}
    return StdioServerParameters(command=sys.executable, args=["-m", "corral.cli", "mcp"], env=env)


def payload(result: Any) -> Any:
    """A tool result's value: its structured content, else its text parsed as JSON."""
    assert not result.is_error, result
    if result.structured_content is not None:
        value = result.structured_content
        return value.get("result", value) if isinstance(value, dict) else value
    return json.loads(result.content[0].text)


def test_an_assistant_uses_a_sandbox_through_mcp(server: Daemon, http: httpx.Client) -> None:
    async def session() -> dict[str, Any]:
        async with Client(params(server, server.api_key)) as mcp:
            tools = {tool.name for tool in (await mcp.list_tools()).tools}
            made = payload(await mcp.call_tool("create_sandbox", {"ttl_seconds": 120}))
            wid = made["id"]
            wrote = payload(await mcp.call_tool("write_file", {
                "workspace": wid, "path": "/work/sum.py", "content": "print(sum(range(10)))\n"}))
            ran = payload(await mcp.call_tool("run_command", {
                "workspace": wid, "command": "cd /work && python3 sum.py; echo err >&2; exit 3"}))
            offline = payload(await mcp.call_tool("run_command", {
                "workspace": wid, "command": f"curl -sS -m 2 {server.url}/v1/health",
                "timeout": 10}))  # fmt: skip
            listed = payload(await mcp.call_tool("list_files", {"workspace": wid,
                                                                "path": "/work"}))
            text = (await mcp.call_tool("read_file", {"workspace": wid,
                                                       "path": "/work/sum.py"})).content[0].text
            seen = payload(await mcp.call_tool("list_workspaces", {}))
            missing = await mcp.call_tool("run_command", {"workspace": "no-such-ws",
                                                          "command": "true"})  # fmt: skip
            gone = payload(await mcp.call_tool("destroy_workspace", {"workspace": wid}))
            return {"tools": tools, "made": made, "wrote": wrote, "ran": ran, "listed": listed,
                    "text": text, "seen": seen, "missing": missing, "gone": gone,
                    "offline": offline}  # fmt: skip

    got = asyncio.run(session())
    assert got["tools"] >= {"create_sandbox", "run_command", "write_file", "read_file",
                            "list_files", "list_workspaces", "destroy_workspace"}  # fmt: skip
    wid = got["made"]["id"]
    assert got["made"]["internet"] is False and got["made"]["expires_at"]
    assert got["wrote"]["size"] == len("print(sum(range(10)))\n")
    assert got["ran"] == {"exit_code": 3, "stdout": "45\n", "stderr": "err\n", "timed_out": False}
    assert got["offline"]["exit_code"] != 0  # air-gapped: not even the daemon
    assert {"name": "sum.py", "type": "file", "size": 22} in got["listed"]
    assert got["text"] == "print(sum(range(10)))\n"
    assert wid in {w["id"] for w in got["seen"]}
    assert got["missing"].is_error and "no workspace 'no-such-ws'" in got["missing"].content[0].text
    assert got["gone"]["state"] == "destroyed"
    assert http.get(f"/v1/workspaces/{wid}").json()["state"] == "destroyed"
    # The sandbox was bounded as the tool promises.
    record = http.get(f"/v1/workspaces/{wid}").json()
    assert (record["memory_mib"], record["cpu"], record["rootfs_mib"]) == (512, 1.0, 1024)


def test_the_tools_reach_only_what_their_key_reaches(server: Daemon, http: httpx.Client) -> None:
    admins = http.post("/v1/workspaces", json={"name": "mcp-admins-own"}).json()
    tenant = http.post("/v1/admin/tenants", json={"name": "mcp-tenant"})
    assert tenant.status_code == 201, tenant.text
    key = http.post("/v1/admin/tenants/mcp-tenant/keys", json={}).json()["key"]

    async def session() -> tuple[Any, Any]:
        async with Client(params(server, key)) as mcp:
            seen = payload(await mcp.call_tool("list_workspaces", {}))
            poke = await mcp.call_tool("run_command", {"workspace": admins["id"],
                                                       "command": "id"})  # fmt: skip
            return seen, poke

    try:
        seen, poke = asyncio.run(session())
        assert seen == []
        assert poke.is_error and "no workspace" in poke.content[0].text
    finally:
        http.delete(f"/v1/workspaces/{admins['id']}")
        http.delete("/v1/admin/tenants/mcp-tenant")
