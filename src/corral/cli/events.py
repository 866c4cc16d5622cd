"""`corral events`: what happened to workspaces, and (with -f) what happens next."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from corral.cli.session import client
from corral.client.models import Event

_STYLE = {"state": "cyan", "restart": "yellow", "exit": "yellow", "crash_loop": "red",
          "gave_up": "red", "oom": "red", "anomaly": "magenta", "expired": "blue",
          "idle_pause": "blue", "resumed": "green"}  # fmt: skip


def _print(console: Console, event: Event, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(event.model_dump(mode="json")))
        return
    when = event.created_at.astimezone().strftime("%H:%M:%S")
    style = _STYLE.get(event.type, "white")
    console.print(f"[dim]{when}[/] [{style}]{event.type:<11}[/] {event.message}",
                  highlight=False)  # fmt: skip


def events(
    ctx: typer.Context,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="Only this one.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    type_: Annotated[
        list[str] | None, typer.Option("--type", "-t", help="Only these types.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many past events to show.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show events (state changes, restarts, exits, expiries, idle pauses...)."""
    console = Console(highlight=False)
    api = client(ctx)
    past = api.events.list(workspace, type_, limit=10_000)[-limit:]
    for event in past:
        _print(console, event, as_json)
    if not follow:
        return
    last = past[-1].id if past else None
    try:
        for event in api.events.follow(workspace, after=last):
            if not type_ or event.type in type_:
                _print(console, event, as_json)
    except KeyboardInterrupt:
        pass
