"""`corral secret set|ls|rm`: your named secrets, referenced from workspaces' env."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from corral.cli import output
from corral.cli.errors import reporting
from corral.cli.options import Json
from corral.cli.session import client

app = typer.Typer(help="Named secrets: set once, use in the env of many workspaces.",
                  no_args_is_help=True)  # fmt: skip
Name = Annotated[str, typer.Argument(metavar="NAME", help="The secret's name.")]


def read_value(name: str) -> str:
    """The value: typed at a hidden prompt on a terminal, else all of stdin."""
    if sys.stdin.isatty():
        return str(typer.prompt(f"value of {name}", hide_input=True))
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value  # `echo x |` adds a newline


@app.command("set")
@reporting
def set_(ctx: typer.Context, name: Name) -> None:
    """Set a secret (its value read from stdin or a hidden prompt, never from arguments).

    Use it in a workspace: corral create NAME --secret-env OPENAI_API_KEY=openai
    """
    value = read_value(name)
    if not value:
        raise typer.BadParameter("the value is empty", param_hint="stdin")
    client(ctx).secrets.set(name, value)
    output.stdout.print(name)


@app.command("ls")
@reporting
def ls(ctx: typer.Context, json: Json = False) -> None:
    """List secrets (names and dates; values are never shown)."""
    secrets = client(ctx).secrets.list()
    if json:
        output.print_json(list(secrets))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAME", "CREATED", "UPDATED"):
        table.add_column(column, no_wrap=True)
    for secret in secrets:
        table.add_row(secret.name, f"{secret.created_at:%Y-%m-%d %H:%M}",
                      f"{secret.updated_at:%Y-%m-%d %H:%M}")  # fmt: skip
    output.stdout.print(table)


@app.command("rm")
@reporting
def rm(ctx: typer.Context, names: Annotated[list[str], typer.Argument(metavar="NAME")]) -> None:
    """Delete secrets (refused while a workspace uses one)."""
    for name in names:
        client(ctx).secrets.delete(name)
        output.stdout.print(name)


def parse_secret_env(values: list[str]) -> dict[str, dict[str, str | bool]]:
    """`KEY=SECRET` pairs (the `--secret-env` option of `corral create`)."""
    env: dict[str, dict[str, str | bool]] = {}
    for value in values:
        key, sep, name = value.partition("=")
        if not sep or not key or not name:
            raise typer.BadParameter(
                f"expected KEY=SECRET, got {value!r}", param_hint="--secret-env"
            )
        env[key] = {"secret": name}
    return env
