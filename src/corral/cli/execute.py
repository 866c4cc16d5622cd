"""`corral exec`: run a command in a workspace, its output streamed live."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from corral.cli import output
from corral.cli.options import CommandArgs, EnvPairs, Ref, parse_env, to_command
from corral.cli.session import client
from corral.client import ExecResult

TIMED_OUT = 124  # what coreutils' timeout(1) exits with, so scripts can tell the cases apart


def exit_status(result: ExecResult) -> int:
    """The status for `corral exec` to exit with: the command's, shell-style."""
    if result.timed_out:
        return TIMED_OUT
    if result.exit_code < 0:  # killed by signal N
        return 128 - result.exit_code
    return min(result.exit_code, 255)


def exec_(
    ctx: typer.Context,
    ref: Ref,
    command: CommandArgs,
    env: EnvPairs = [],  # noqa: B006 - typer reads the default, never mutates it
    cwd: Annotated[str | None, typer.Option(help="Working directory (absolute).")] = None,
    timeout: Annotated[float, typer.Option(help="Kill the command after this many seconds.")] = 60,
    stdin: Annotated[
        bool, typer.Option("--stdin", "-i", help="Send stdin, read to its end, to the command.")
    ] = False,
) -> None:
    """Run a command in a workspace and exit with its exit code."""
    ws = client(ctx).workspaces.get(ref)
    events = ws.exec_stream(
        to_command(command),
        env=parse_env(env),
        cwd=cwd,
        stdin=sys.stdin.read() if stdin else None,
        timeout=timeout,
    )
    for event in events:
        if isinstance(event, ExecResult):
            if event.timed_out:
                output.print_error(f"the command timed out after {timeout:g}s")
            raise typer.Exit(exit_status(event))
        stream = sys.stdout if event.stream == "stdout" else sys.stderr
        stream.write(event.text)
        stream.flush()
