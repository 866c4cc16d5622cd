"""`corral deploy`: put a directory into a permanent workspace (create or update in place)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corral.cli import output
from corral.cli.options import EnvPairs, Json, parse_env
from corral.cli.session import client


def deploy(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Agent code (+ requirements).")],
    name: Annotated[str, typer.Option("--name", "-n", help="Workspace name.")],
    command: Annotated[
        str | None, typer.Option(help="Main command, run in /app (default: python3 main.py).")
    ] = None,
    disk: Annotated[int, typer.Option(help="Persistent /data disk in MiB (0: none).")] = 1024,
    memory: Annotated[int | None, typer.Option(help="Memory limit in MiB.")] = None,
    cpu: Annotated[float | None, typer.Option(help="CPU limit in cores.")] = None,
    env: EnvPairs = [],  # noqa: B006
    json: Json = False,
) -> None:
    """Deploy DIR as a managed, always-restarted agent; a redeploy updates it in place."""
    extra = {k: v for k, v in (("memory_mib", memory), ("cpu", cpu)) if v is not None}
    ws = client(ctx).deploy(str(directory), name, command, env=parse_env(env),
                            disk_mib=disk or None, **extra)  # fmt: skip
    if json:
        output.print_json(ws)
    else:
        output.stdout.print(f"deployed {ws.name} ({ws.id}): {ws.state}; "
                            f"`corral logs -f {ws.name}` to follow it")  # fmt: skip
