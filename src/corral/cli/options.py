"""Options several verbs share, and turning their text into API values."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from corral.client.calls import Command

Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
Ref = Annotated[str, typer.Argument(metavar="REF", help="Workspace id or name.")]
Refs = Annotated[
    list[str], typer.Argument(metavar="REF", help="Workspace ids or names.", show_default=False)
]
COMMAND_HELP = "After `--`; a single argument runs via /bin/sh -c."
CommandArgs = Annotated[list[str], typer.Argument(metavar="COMMAND", help=COMMAND_HELP)]
EnvPairs = Annotated[
    list[str],
    typer.Option("--env", "-e", help="KEY=VALUE, or KEY to pass on your own $KEY; repeatable."),
]
LabelPairs = Annotated[list[str], typer.Option("--label", "-l", help="k=v; repeatable.")]


def parse_env(values: list[str]) -> dict[str, str]:
    env = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            if key not in os.environ:
                raise typer.BadParameter(
                    f"{key} is not set here; write {key}=VALUE", param_hint="--env"
                )
            val = os.environ[key]
        env[key] = val
    return env


def parse_labels(values: list[str]) -> dict[str, str]:
    labels = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected k=v, got {value!r}", param_hint="--label")
        labels[key] = val
    return labels


def to_command(args: list[str]) -> Command:
    """One argument is a shell command line (`/bin/sh -c`); several are an argv."""
    return args[0] if len(args) == 1 else args
