"""Where the CLI writes: rich consoles for people, plain JSON for scripts."""

from __future__ import annotations

import json
import sys

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape

# Piped output is read by scripts and `grep`: do not fold tables to a guessed 80 columns.
stdout = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True, highlight=False)


def print_json(data: BaseModel | list[BaseModel]) -> None:
    items = data if isinstance(data, list) else [data]
    dumped = [item.model_dump(mode="json") for item in items]
    sys.stdout.write(json.dumps(dumped if isinstance(data, list) else dumped[0], indent=2) + "\n")


def print_error(message: str, hint: str | None = None) -> None:
    stderr.print(f"[red]error: {escape(message)}[/]")
    if hint:
        stderr.print(f"[yellow]hint: {escape(hint)}[/]")


def print_warning(message: str) -> None:
    stderr.print(f"[yellow]warning: {escape(message)}[/]")
