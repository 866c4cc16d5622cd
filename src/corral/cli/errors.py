"""How a failed command ends: `error: ...` in red, a hint when there is one, exit status 1."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec

import typer

from corral.cli.output import print_error
from corral.errors import CorralError

P = ParamSpec("P")


def reporting(command: Callable[P, None]) -> Callable[P, None]:
    """`command`, with expected failures turned into one line instead of a traceback."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            return command(*args, **kwargs)
        except CorralError as exc:
            print_error(exc.message, exc.hint)
        except OSError as exc:  # local files (`cp`), stdin, a closed pipe
            print_error(str(exc))
        raise typer.Exit(1)

    return run
