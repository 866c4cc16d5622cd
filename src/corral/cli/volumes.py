"""`corral volume create|ls|rm`: encrypted volumes that outlive workspaces."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from corral.cli import output
from corral.cli.errors import reporting
from corral.cli.options import Json
from corral.cli.session import client

app = typer.Typer(help="Named encrypted volumes, attached with `corral create --volume`.",
                  no_args_is_help=True)  # fmt: skip


@app.command("create")
@reporting
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Unique name (a DNS label).")],
    size: Annotated[int, typer.Option("--size", help="Size in MiB (its hard quota).")] = 1024,
    json: Json = False,
) -> None:
    """Create an encrypted volume and print its id."""
    volume = client(ctx).volumes.create(name, size)
    if json:
        output.print_json(volume)
    else:
        output.stdout.print(volume.id)


@app.command("ls")
@reporting
def ls(ctx: typer.Context, json: Json = False) -> None:
    """List volumes and the workspaces they are attached to."""
    volumes = client(ctx).volumes.list()
    if json:
        output.print_json(list(volumes))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "NAME", "SIZE", "ATTACHED"):
        table.add_column(column, no_wrap=True)
    for volume in volumes:
        users = ", ".join(f"{u.workspace_name}:{u.path}{':ro' if u.readonly else ''}"
                          for u in volume.attached)  # fmt: skip
        table.add_row(volume.id, volume.name, f"{volume.size_mib}Mi", users or "-")
    output.stdout.print(table)


@app.command("rm")
@reporting
def rm(ctx: typer.Context, refs: Annotated[list[str], typer.Argument(metavar="VOLUME")]) -> None:
    """Delete volumes by cryptographic erasure (refused while attached)."""
    for ref in refs:
        client(ctx).volumes.delete(ref)
        output.stdout.print(ref)


def parse_volume(value: str) -> dict[str, str | bool]:
    """`NAME:/path` or `NAME:/path:ro` (the `--volume` option of `corral create`)."""
    name, sep, rest = value.partition(":")
    path, _, mode = rest.partition(":")
    if not sep or not name or not path.startswith("/") or mode not in ("", "ro", "rw"):
        raise typer.BadParameter(f"expected NAME:/path[:ro], got {value!r}", param_hint="--volume")
    return {"name": name, "path": path, "readonly": mode == "ro"}
