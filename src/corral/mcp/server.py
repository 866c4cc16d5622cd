"""corral as MCP tools: an assistant (Claude Desktop, an IDE, any MCP client) creates
sandboxes, runs commands and moves files in them, and destroys them.

`corral mcp` serves these tools over stdio. It is a thin client of the public API, like the
CLI: the same URL and key (`CORRAL_URL`, `CORRAL_API_KEY`, or the local admin key file), so
a key scoped to a tenant, or a workspace token, limits what the tools can reach. A corral
error becomes a tool error whose text says what went wrong and how to fix it, which the
model can read and act on.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from corral.client import AsyncClient
from corral.errors import CorralError

INSTRUCTIONS = (
    "corral runs isolated Linux workspaces. For untrusted code, create a sandbox (air-gapped "
    "and temporary by default), run commands in it, read the results, and destroy it."
)


@contextlib.asynccontextmanager
async def _api(url: str | None, api_key: str | None) -> AsyncIterator[AsyncClient]:
    """A client for one tool call; a corral error leaves it as a tool error with its hint."""
    async with AsyncClient(url, api_key) as corral:
        try:
            yield corral
        except CorralError as exc:
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            raise ToolError(f"{exc.message}{hint}") from None


def build(url: str | None = None, api_key: str | None = None) -> MCPServer[Any]:
    """The MCP server, its tools talking to the corral API at `url` with `api_key`."""
    server: MCPServer[Any] = MCPServer("corral", instructions=INSTRUCTIONS)

    def client() -> contextlib.AbstractAsyncContextManager[AsyncClient]:
        return _api(url, api_key)

    @server.tool()
    async def list_workspaces() -> list[dict[str, Any]]:
        """The workspaces this key can see: id, name, state, image, address, internet."""
        async with client() as corral:
            found = await corral.workspaces.list()
        return [{"id": w.id, "name": w.name, "state": w.state, "image": w.image, "ip": w.ip,
                 "internet": w.internet, "expires_at": w.expires_at and w.expires_at.isoformat()}
                for w in found]  # fmt: skip

    @server.tool()
    async def create_sandbox(
        name: str | None = None,
        ttl_seconds: int = 600,
        internet: bool = False,
        memory_mib: int | None = 512,
        cpu: float | None = 1.0,
        rootfs_mib: int | None = 1024,
    ) -> dict[str, Any]:
        """Create a temporary, isolated Linux sandbox (Debian userland with python3); it is
        destroyed after `ttl_seconds`. Air-gapped unless `internet` is true. Returns its id."""
        async with client() as corral:
            ws = await corral.workspaces.create(
                name or f"mcp-{secrets.token_hex(4)}", ttl_seconds=ttl_seconds,
                internet=internet, memory_mib=memory_mib, cpu=cpu, rootfs_mib=rootfs_mib,
            )  # fmt: skip
        return {"id": ws.id, "name": ws.name, "state": ws.state, "internet": ws.internet,
                "expires_at": ws.expires_at and ws.expires_at.isoformat()}  # fmt: skip

    @server.tool()
    async def run_command(
        workspace: str, command: str, timeout: float = 60, cwd: str | None = None
    ) -> dict[str, Any]:
        """Run a shell command (/bin/sh -c) in a workspace (by id or name) and wait for it:
        exit code, stdout, stderr; a command past `timeout` seconds is killed."""
        async with client() as corral:
            ws = await corral.workspaces.get(workspace)
            result = await ws.exec(command, timeout=timeout, cwd=cwd)
        return {"exit_code": result.exit_code, "stdout": result.stdout, "stderr": result.stderr,
                "timed_out": result.timed_out}  # fmt: skip

    @server.tool()
    async def write_file(workspace: str, path: str, content: str) -> dict[str, Any]:
        """Write a text file in a workspace (parent directories are made); returns its size."""
        async with client() as corral:
            ws = await corral.workspaces.get(workspace)
            entry = await ws.files.write(path, content)
        return {"path": entry.path, "size": entry.size}

    @server.tool()
    async def read_file(workspace: str, path: str) -> str:
        """The text of a file in a workspace."""
        async with client() as corral:
            ws = await corral.workspaces.get(workspace)
            return await ws.files.read_text(path)

    @server.tool()
    async def list_files(workspace: str, path: str = "/") -> list[dict[str, Any]]:
        """The entries of a directory in a workspace: name, type, size."""
        async with client() as corral:
            ws = await corral.workspaces.get(workspace)
            entries = await ws.files.list(path)
        return [{"name": e.name, "type": e.type, "size": e.size} for e in entries]

    @server.tool()
    async def destroy_workspace(workspace: str) -> dict[str, Any]:
        """Destroy a workspace (by id or name): its processes, files and disk are gone."""
        async with client() as corral:
            ws = await corral.workspaces.get(workspace)
            await ws.destroy()
        return {"id": ws.id, "name": ws.name, "state": "destroyed"}

    return server
