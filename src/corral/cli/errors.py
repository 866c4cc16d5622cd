"""How a failed command ends: `error: ...` in red, a hint when there is one, exit status 1."""

from __future__ import annotations

from typing import Any

import click
import typer
from typer.core import TyperGroup

from corral.cli.output import print_error
from corral.errors import CorralError


class ReportingGroup(TyperGroup):
    """The command group that turns expected failures into one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CorralError as exc:
            print_error(exc.message, exc.hint)
        except OSError as exc:  # local files (`cp`), stdin, a closed pipe
            print_error(str(exc))
        raise typer.Exit(1)
