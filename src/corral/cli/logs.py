"""`corral logs`: what a workspace's main command has printed."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from corral.cli.options import Ref
from corral.cli.session import client


def logs(
    ctx: typer.Context,
    ref: Ref,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new output.")
    ] = False,
    tail: Annotated[int | None, typer.Option(help="Only the last N lines.")] = None,
) -> None:
    """Print the output of a workspace's main command."""
    ws = client(ctx).workspaces.get(ref)
    if not follow:
        sys.stdout.write(ws.logs(tail))
        return
    try:
        for text in ws.follow_logs(tail):
            sys.stdout.write(text)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops following
