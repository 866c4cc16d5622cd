"""`corral stats`: live resource usage of workspaces, as `docker stats` shows containers."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.live import Live
from rich.table import Table
from rich.text import Text

from corral.api.schemas import FleetWorkspace
from corral.cli import output
from corral.cli.options import Json
from corral.cli.render import STATE_STYLES
from corral.cli.session import client
from corral.client import Client
from corral.errors import NotFound

LIVE_STATES = ("running", "paused")
COLUMNS = ("ID", "NAME", "STATE", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O",
           "BLOCK I/O", "PIDS", "FLAGS")  # fmt: skip


def human_bytes(value: float | None) -> str:
    """`512B`, `1.5KiB`, `256MiB`, `2GiB`: short, as `docker stats` writes sizes."""
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            text = f"{value:.0f}" if unit == "B" or value >= 100 else f"{value:.1f}"
            return f"{text.removesuffix('.0')}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}%"


def _pair(a: float | None, b: float | None) -> str:
    return f"{human_bytes(a)} / {human_bytes(b)}"


def stats_table(rows: Sequence[FleetWorkspace]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, no_wrap=True, justify="left" if column in COLUMNS[:3] else "right")
    for ws in rows:
        now = ws.current
        flags = Text(" ".join(a.kind for a in ws.anomalies), style="bold red")
        if now is None:
            table.add_row(ws.id[:12], ws.name, Text(ws.state, style=STATE_STYLES.get(ws.state, "")),
                          *["-"] * 6, flags)  # fmt: skip
            continue
        limit = now.memory_limit_bytes
        table.add_row(
            ws.id[:12],
            ws.name,
            Text(ws.state, style=STATE_STYLES.get(ws.state, "")),
            _percent(now.cpu_percent),
            f"{human_bytes(now.memory_bytes)} / {human_bytes(limit) if limit else 'no limit'}",
            _percent(now.memory_percent),
            _pair(now.net_rx_bytes, now.net_tx_bytes),
            _pair(now.io_read_bytes, now.io_write_bytes),
            "-" if now.pids is None else str(now.pids),
            flags,
        )
    return table


def select(workspaces: Sequence[FleetWorkspace], refs: Sequence[str]) -> list[FleetWorkspace]:
    """The workspaces named by `refs` (id, id prefix or name), else every live one."""
    if not refs:
        return [ws for ws in workspaces if ws.state in LIVE_STATES]
    chosen = []
    for ref in refs:
        match = next((ws for ws in workspaces if ref in (ws.id, ws.name)), None)
        match = match or next((ws for ws in workspaces if ws.id.startswith(ref)), None)
        if match is None:
            raise NotFound(f"no workspace {ref!r}", hint="`corral ls` lists workspaces")
        chosen.append(match)
    return chosen


def _fetch(corral: Client, refs: Sequence[str]) -> tuple[list[FleetWorkspace], float]:
    summary = corral.metrics_summary(points=0)
    return select(summary.workspaces, refs), summary.sampler.interval_seconds


def stats(
    ctx: typer.Context,
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Workspace ids or names; default: every running or paused one.", show_default=False
        ),
    ] = None,
    no_stream: Annotated[
        bool, typer.Option("--no-stream", help="Print one table and exit.")
    ] = False,
    interval: Annotated[
        float | None,
        typer.Option(help="Seconds between refreshes; default: the daemon's sampling interval."),
    ] = None,
    json: Json = False,
) -> None:
    """Show workspaces' CPU, memory, network, block IO and processes, refreshed live."""
    corral = client(ctx)
    rows, sampled_every = _fetch(corral, refs or [])
    if json:
        items: list[BaseModel] = list(rows)
        output.print_json(items)
        return
    if no_stream or not sys.stdout.isatty():
        output.stdout.print(stats_table(rows))
        return
    every = max(interval or sampled_every, 0.5)
    try:
        with Live(stats_table(rows), console=output.stdout, auto_refresh=False) as live:
            while True:
                time.sleep(every)
                rows, _ = _fetch(corral, refs or [])
                live.update(stats_table(rows), refresh=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how one stops watching
