"""Workspaces and daemon info as rich tables, with durations people read at a glance."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import UTC, datetime

from rich.table import Table
from rich.text import Text

from corral.client import Info
from corral.client.models import WorkspaceModel

STATE_STYLES = {
    "running": "green",
    "paused": "yellow",
    "stopped": "dim",
    "failed": "red",
    "creating": "cyan",
    "destroying": "cyan",
    "destroyed": "dim",
}


def duration(seconds: float) -> str:
    """`42s`, `5m`, `3h`, `2d`: the largest unit, rounded down, as `docker ps` does."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def age(since: datetime, now: datetime) -> str:
    return duration((now - since).total_seconds())


def time_left(expires_at: datetime | None, now: datetime) -> str:
    return "-" if expires_at is None else duration((expires_at - now).total_seconds())


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def workspace_table(workspaces: Sequence[WorkspaceModel], now: datetime | None = None) -> Table:
    now = now or datetime.now(UTC)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "NAME", "STATE", "IMAGE", "CPU", "MEM", "AGE", "TTL"):
        table.add_column(column, no_wrap=True)
    for ws in workspaces:
        table.add_row(
            ws.id[:12],
            ws.name,
            _state(ws.state),
            ws.image,
            _or_dash(ws.cpu),
            "-" if ws.memory_mib is None else f"{ws.memory_mib}Mi",
            age(ws.created_at, now),
            time_left(ws.expires_at, now),
        )
    return table


def _fields(rows: Sequence[tuple[str, str | Text]]) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in rows:
        # Values are data (commands, labels, errors): never read them as rich markup.
        table.add_row(name, Text(value) if isinstance(value, str) else value)
    return table


def workspace_details(ws: WorkspaceModel, now: datetime | None = None) -> Table:
    now = now or datetime.now(UTC)
    last_exit = "-"
    if ws.last_exit_code is not None:
        when = f" ({age(ws.last_exit_at, now)} ago)" if ws.last_exit_at else ""
        last_exit = f"{ws.last_exit_code}{when}"
    ttl = "-"
    if ws.ttl_seconds is not None:
        left = "" if ws.expires_at is None else f", {time_left(ws.expires_at, now)} left"
        ttl = f"{duration(ws.ttl_seconds)} (then {ws.on_expire}{left})"
    state: str | Text = _state(ws.state)
    if ws.paused_reason:
        state = Text.assemble(_state(ws.state), f" ({ws.paused_reason})")
    restart: str | Text = f"{ws.restart} ({ws.restart_count} restarts)"
    if ws.crash_loop:
        restart = Text.assemble(restart, (" crash loop", "red"))
    return _fields(
        [
            ("id", ws.id),
            ("name", ws.name),
            ("state", state),
            ("image", ws.image if ws.template is None else f"{ws.image} + template {ws.template}"),
            ("runtime", f"{ws.runtime or '-'} ({ws.isolation})"),
            ("command", shlex.join(ws.command) if ws.command else "-"),
            ("env", ", ".join(ws.env_names) or "-"),
            ("secrets", ", ".join(ws.secret_env_names) or "-"),
            ("cpu", _or_dash(ws.cpu)),
            ("memory", "-" if ws.memory_mib is None else f"{ws.memory_mib} MiB"),
            ("pids", _or_dash(ws.pids)),
            ("restart", restart),
            ("last exit", last_exit),
            ("ttl", ttl),
            ("idle pause", "-" if ws.idle_timeout_seconds is None
             else f"after {duration(ws.idle_timeout_seconds)} idle"),  # fmt: skip
            ("ip", ws.ip or "-"),
            ("internet", _internet(ws)),
            ("ports", ", ".join(map(str, ws.ports)) or "-"),
            ("disk", "-" if ws.disk_mib is None else f"{ws.disk_mib} MiB at {ws.disk_path}"),
            ("rootfs cap", "-" if ws.rootfs_mib is None else f"{ws.rootfs_mib} MiB"),
            ("volumes", ", ".join(f"{v.name}:{v.path}{':ro' if v.readonly else ''}"
                                  for v in ws.volumes) or "-"),  # fmt: skip
            ("labels", ", ".join(f"{k}={v}" for k, v in ws.labels.items()) or "-"),
            ("created", f"{ws.created_at:%Y-%m-%d %H:%M:%S %Z} ({age(ws.created_at, now)} ago)"),
            ("error", Text(ws.error, style="red") if ws.error else "-"),
        ]
    )


def _internet(ws: WorkspaceModel) -> str:
    if not ws.internet:
        return "off (air-gapped)"
    return f"on, only to {', '.join(ws.egress)}" if ws.egress else "on"


def info_details(info: Info, url: str) -> Table:
    return _fields(
        [
            ("url", url),
            ("version", info.version),
            ("runtime", info.runtime),
            ("cgroups", info.cgroup_mode),
            ("state dir", info.state_dir),
            ("workspaces", str(info.workspaces)),
        ]
    )
