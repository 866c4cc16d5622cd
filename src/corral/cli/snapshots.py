"""`corral snapshot`, `corral fork`, `corral template ls|rm`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from corral.cli import output
from corral.cli.errors import reporting
from corral.cli.options import Json, Ref
from corral.cli.session import client

templates = typer.Typer(help="Templates: snapshots of workspaces to create others from.",
                        no_args_is_help=True)  # fmt: skip


def snapshot(
    ctx: typer.Context,
    ref: Ref,
    name: Annotated[str, typer.Argument(metavar="TEMPLATE", help="Name of the new template.")],
    json: Json = False,
) -> None:
    """Save a workspace's files and disk as a template (use: corral create --template)."""
    template = client(ctx).workspaces.get(ref).snapshot(name)
    if json:
        output.print_json(template)
    else:
        output.stdout.print(f"{template.id}  ({template.duration_ms:.0f} ms)")


def fork(
    ctx: typer.Context,
    ref: Ref,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Name of the copy.")],
    json: Json = False,
) -> None:
    """Copy a workspace (files, disk, env) into a new, independent, running one."""
    ws = client(ctx).workspaces.get(ref).fork(name)
    if json:
        output.print_json(ws)
    else:
        output.stdout.print(ws.id)


@templates.command("ls")
@reporting
def ls(ctx: typer.Context, json: Json = False) -> None:
    """List templates."""
    records = client(ctx).templates.list()
    if json:
        output.print_json(list(records))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "NAME", "IMAGE", "LAYERS", "DISK", "FROM", "TOOK"):
        table.add_column(column, no_wrap=True)
    for t in records:
        disk = "-" if t.disk_mib is None else f"{t.disk_mib}Mi"
        table.add_row(t.id, t.name, t.image, str(t.layers), disk, t.source,
                      f"{t.duration_ms:.0f} ms")  # fmt: skip
    output.stdout.print(table)


@templates.command("rm")
@reporting
def rm(ctx: typer.Context, refs: Annotated[list[str], typer.Argument(metavar="TEMPLATE")]) -> None:
    """Delete templates (refused while workspaces made from them exist)."""
    for ref in refs:
        client(ctx).templates.delete(ref)
        output.stdout.print(ref)
