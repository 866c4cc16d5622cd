"""`corral mcp`: corral's workspaces as tools for MCP clients, over stdio."""

from __future__ import annotations

import typer

from corral.cli.session import Session
from corral.errors import InvalidSpec


def mcp(ctx: typer.Context) -> None:
    """Serve corral as MCP tools on stdin/stdout (for Claude Desktop, IDEs, agent hosts):
    create sandboxes, run commands, read and write files, destroy."""
    try:
        from corral.mcp.server import build
    except ImportError:
        raise InvalidSpec("the MCP server needs the `mcp` package",
                          hint="pip install 'corral[mcp]'") from None  # fmt: skip
    session = ctx.ensure_object(Session)
    build(session.url, session.api_key).run("stdio")
