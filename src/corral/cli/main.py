"""The `corral` command: global options, and the table of verbs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from corral import __version__
from corral.cli import (
    admin,
    copy,
    deploy,
    events,
    execute,
    logs,
    mcp,
    secrets,
    serve,
    snapshots,
    stats,
    volumes,
    workspaces,
)
from corral.cli.errors import reporting
from corral.cli.session import Session
from corral.client import Workspace

app = typer.Typer(
    name="corral",
    help="Isolated workspaces for AI agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold API keys
)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"corral {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(envvar="CORRAL_URL", help="Daemon URL.", show_default=False)
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="CORRAL_API_KEY", help="API key.", show_default=False, show_envvar=True
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    session = Session(url, api_key)
    ctx.obj = session
    ctx.call_on_close(session.close)


def _verb(name: str, command: Callable[..., None]) -> None:
    app.command(name)(reporting(command))


_verb("serve", serve.serve)
_verb("ls", workspaces.ls)
_verb("create", workspaces.create)
_verb("info", workspaces.info)
_verb("start", workspaces.lifecycle(Workspace.start, "Start stopped workspaces."))
_verb("stop", workspaces.lifecycle(Workspace.stop, "Stop workspaces (their disks stay)."))
_verb("pause", workspaces.lifecycle(Workspace.pause, "Freeze workspaces' processes."))
_verb("resume", workspaces.lifecycle(Workspace.resume, "Thaw paused workspaces."))
_verb("rm", workspaces.rm)
_verb("exec", execute.exec_)
_verb("logs", logs.logs)
_verb("stats", stats.stats)
_verb("mcp", mcp.mcp)
_verb("cp", copy.cp)
_verb("events", events.events)
_verb("deploy", deploy.deploy)
_verb("snapshot", snapshots.snapshot)
_verb("fork", snapshots.fork)
app.add_typer(snapshots.templates, name="template")
app.add_typer(secrets.app, name="secret")
app.add_typer(volumes.app, name="volume")
app.add_typer(admin.app, name="admin")
