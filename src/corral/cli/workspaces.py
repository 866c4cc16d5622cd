"""Verbs on workspaces themselves: ls, create, info, start/stop/pause/resume, rm."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from corral.api.schemas import Isolation, RestartPolicy, State
from corral.cli import output, render
from corral.cli.options import (
    COMMAND_HELP,
    EnvPairs,
    Json,
    LabelPairs,
    Refs,
    parse_env,
    parse_labels,
    to_command,
)
from corral.cli.secrets import parse_secret_env
from corral.cli.session import client
from corral.cli.volumes import parse_volume
from corral.client import Workspace
from corral.errors import CorralError, NotFound


def ls(
    ctx: typer.Context,
    state: Annotated[State | None, typer.Option(help="Only workspaces in this state.")] = None,
    label: LabelPairs = [],  # noqa: B006 - typer reads the default, never mutates it
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print ids only.")] = False,
    json: Json = False,
) -> None:
    """List workspaces."""
    workspaces = client(ctx).workspaces.list(state=state, labels=parse_labels(label))
    if json:
        output.print_json(list(workspaces))
    elif quiet:
        for ws in workspaces:
            output.stdout.print(ws.id)
    else:
        output.stdout.print(render.workspace_table(workspaces))


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="Unique name (a DNS label).")],
    command: Annotated[
        list[str] | None, typer.Argument(metavar="COMMAND", help=COMMAND_HELP)
    ] = None,
    image: Annotated[str | None, typer.Option(help="Base image [default: host].")] = None,
    cpu: Annotated[float | None, typer.Option(help="CPU limit in (fractional) cores.")] = None,
    memory: Annotated[int | None, typer.Option(help="Memory limit in MiB.")] = None,
    pids: Annotated[int | None, typer.Option(help="Maximum number of processes.")] = None,
    ttl: Annotated[int | None, typer.Option(help="Destroy after this many seconds.")] = None,
    restart: Annotated[RestartPolicy, typer.Option(help="always, on-failure or never.")] = "never",
    env: EnvPairs = [],  # noqa: B006
    label: LabelPairs = [],  # noqa: B006
    disk: Annotated[
        int | None, typer.Option(help="An encrypted persistent disk of this many MiB.")
    ] = None,
    disk_path: Annotated[str, typer.Option(help="Where the disk is mounted.")] = "/data",
    rootfs: Annotated[
        int | None,
        typer.Option(help="Cap what is written outside the disk at this many MiB (ENOSPC)."),
    ] = None,
    volume: Annotated[
        list[str], typer.Option("--volume", "-v", help="NAME:/path[:ro]; repeatable.")
    ] = [],  # noqa: B006
    template: Annotated[
        str | None, typer.Option(help="Start from a template (`corral snapshot`).")
    ] = None,
    secret_env: Annotated[
        list[str],
        typer.Option("--secret-env", help="KEY=SECRET: env KEY from `corral secret set SECRET`."),
    ] = [],  # noqa: B006
    isolation: Annotated[
        Isolation, typer.Option(help="container (crun/runc) or gvisor (runsc's own kernel).")
    ] = "container",
    json: Json = False,
) -> None:
    """Create a workspace and print its id."""
    ws = client(ctx).workspaces.create(
        name,
        image=image,  # type: ignore[arg-type]  # None: the server's default
        command=to_command(command) if command else None,
        env={**parse_env(env), **parse_secret_env(secret_env)},
        cpu=cpu,
        memory_mib=memory,
        pids=pids,
        ttl_seconds=ttl,
        restart=restart,
        labels=parse_labels(label),
        disk_mib=disk,
        disk_path=disk_path if disk is not None else None,  # type: ignore[arg-type]
        rootfs_mib=rootfs,
        volumes=[parse_volume(v) for v in volume] or None,  # type: ignore[misc]
        template=template,
        isolation=isolation,
    )
    if json:
        output.print_json(ws)
    else:
        output.stdout.print(ws.id)


def info(
    ctx: typer.Context,
    ref: Annotated[
        str | None, typer.Argument(metavar="REF", help="A workspace; without one, the daemon.")
    ] = None,
    json: Json = False,
) -> None:
    """Show a workspace in detail, or the daemon when no workspace is named."""
    corral = client(ctx)
    if ref is None:
        daemon = corral.info()
        if json:
            output.print_json(daemon)
        else:
            output.stdout.print(render.info_details(daemon, corral.connection.url))
        return
    ws = corral.workspaces.get(ref)
    if json:
        output.print_json(ws)
    else:
        output.stdout.print(render.workspace_details(ws))


def _apply(
    ctx: typer.Context,
    refs: list[str],
    act: Callable[[Workspace], object],
    missing_ok: bool = False,
) -> None:
    """Do `act` to each workspace in turn; report each failure and carry on, as docker does."""
    failed = False
    for ref in refs:
        try:
            act(client(ctx).workspaces.get(ref))
        except CorralError as exc:
            if not (missing_ok and isinstance(exc, NotFound)):
                output.print_error(exc.message, exc.hint)
                failed = True
            continue
        output.stdout.print(ref)
    if failed:
        raise typer.Exit(1)


def lifecycle(act: Callable[[Workspace], object], summary: str) -> Callable[..., None]:
    """The command for one state change (start, stop, pause, resume): same shape for all."""

    def command(ctx: typer.Context, refs: Refs) -> None:
        _apply(ctx, refs, act)

    command.__doc__ = summary
    return command


def rm(
    ctx: typer.Context,
    refs: Refs,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Ignore missing workspaces.")
    ] = False,
) -> None:
    """Destroy workspaces, their processes and their disks."""
    _apply(ctx, refs, Workspace.destroy, missing_ok=force)
