"""Request and response bodies of the public HTTP API (pydantic, validated at the boundary).

These models are the API contract: the engine works on `corral.engine.spec` dataclasses, and
the routes translate between the two.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-/]{0,61}[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TTL_SECONDS = 30 * 24 * 3600

RestartPolicy = Literal["always", "on-failure", "never"]
OnExpire = Literal["destroy", "pause", "stop"]
State = Literal["creating", "running", "paused", "stopped", "destroying", "destroyed", "failed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_env(env: dict[str, str]) -> dict[str, str]:
    for key, value in env.items():
        if not ENV_NAME.match(key):
            raise ValueError(f"env name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
        if "\x00" in value:
            raise ValueError(f"env value of {key!r} contains a NUL byte")
    return env


class WorkspaceCreate(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, description="unique per owner, DNS label")]
    image: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")] = "host"
    command: list[str] | str | None = Field(
        default=None, description="main process: argv list, or a shell string run by /bin/sh -c"
    )
    env: dict[str, str] = Field(default_factory=dict)
    cpu: Annotated[float, Field(gt=0, le=256, description="fractional cores")] | None = None
    memory_mib: Annotated[int, Field(ge=16, le=1024 * 1024)] | None = None
    pids: Annotated[int, Field(ge=8, le=1_000_000)] | None = None
    ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = None
    restart: RestartPolicy = "never"
    max_retries: Annotated[int, Field(ge=0, le=10_000)] | None = Field(
        default=None, description="on-failure: stop restarting after this many in a row"
    )
    on_expire: OnExpire = "destroy"
    ttl_counts_paused: bool = Field(
        default=True, description="whether time spent paused counts against ttl_seconds"
    )
    idle_timeout_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = Field(
        default=None, description="pause after this long without API activity and with idle CPU"
    )
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        return _check_env(env)

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key, value in labels.items():
            if not LABEL_KEY.match(key):
                raise ValueError(f"label key {key!r} is not a valid key")
            if len(value) > 256:
                raise ValueError(f"label {key!r} is longer than 256 characters")
        return labels

    @field_validator("command")
    @classmethod
    def _command(cls, command: list[str] | str | None) -> list[str] | str | None:
        if isinstance(command, list) and not command:
            raise ValueError("command must not be an empty list")
        if isinstance(command, str) and not command.strip():
            raise ValueError("command must not be blank")
        return command


class WorkspaceUpdate(Strict):
    """Fields to change; omitted ones stay. Changing command/env/restart/limits restarts it."""

    command: list[str] | str | None = None
    env: dict[str, str] | None = None
    restart: RestartPolicy | None = None
    labels: dict[str, str] | None = None
    cpu: Annotated[float, Field(gt=0, le=256)] | None = None
    memory_mib: Annotated[int, Field(ge=16, le=1024 * 1024)] | None = None
    pids: Annotated[int, Field(ge=8, le=1_000_000)] | None = None

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str] | None) -> dict[str, str] | None:
        return _check_env(env) if env is not None else None


class SetTimeout(Strict):
    ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = Field(
        description="expire this many seconds from now; null: never expire"
    )


class Workspace(BaseModel):
    id: str
    name: str
    image: str
    state: State
    command: list[str] | None
    env_names: list[str]
    cpu: float | None
    memory_mib: int | None
    pids: int | None
    ttl_seconds: int | None
    expires_at: datetime | None
    restart: RestartPolicy
    labels: dict[str, str]
    created_at: datetime
    updated_at: datetime
    max_retries: int | None
    on_expire: OnExpire
    ttl_counts_paused: bool
    idle_timeout_seconds: int | None
    restart_count: int
    crash_loop: bool = Field(description="restarting again and again, with growing backoff")
    paused_reason: str | None = None
    last_exit_code: int | None
    last_exit_at: datetime | None
    error: str | None
    runtime: str


class WorkspaceList(BaseModel):
    workspaces: list[Workspace]


class ExecRequest(Strict):
    command: list[str] | str = Field(description="argv list, or a shell string run by /bin/sh -c")
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    stdin: str | None = None
    timeout: Annotated[float, Field(gt=0, le=24 * 3600)] = 60.0

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str]) -> dict[str, str]:
        return _check_env(env)

    @field_validator("command")
    @classmethod
    def _command(cls, command: list[str] | str) -> list[str] | str:
        if isinstance(command, list) and not command:
            raise ValueError("command must not be an empty list")
        if isinstance(command, str) and not command.strip():
            raise ValueError("command must not be blank")
        return command

    @field_validator("cwd")
    @classmethod
    def _cwd(cls, cwd: str | None) -> str | None:
        if cwd is not None and not cwd.startswith("/"):
            raise ValueError("cwd must be an absolute path inside the workspace")
        return cwd


class ExecResult(BaseModel):
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool
    duration_ms: float


class FileEntry(BaseModel):
    name: str
    path: str
    type: Literal["file", "dir", "symlink", "other"]
    size: int
    mode: int
    mtime: datetime


class FileList(BaseModel):
    path: str
    entries: list[FileEntry]


class MakeDir(Strict):
    path: str
    parents: bool = True


class ErrorBody(BaseModel):
    error: str
    message: str
    hint: str | None = None


class Info(BaseModel):
    version: str
    runtime: str
    cgroup_mode: str
    state_dir: str
    workspaces: int


# -- metrics ----------------------------------------------------------------------------
# null means "not known": no rate before a second sample, a counter this kernel lacks, no
# limit set, no persistent disk.


class MetricsPoint(BaseModel):
    """One sample of a workspace's history."""

    time: datetime
    cpu_percent: float | None = Field(description="CPU used over the interval, % of one core")
    memory_bytes: int | None = Field(description="working set (reclaimable cache excluded)")
    pids: int | None
    net_rx_bytes_per_s: float | None
    net_tx_bytes_per_s: float | None
    io_read_bytes_per_s: float | None
    io_write_bytes_per_s: float | None
    rootfs_used_bytes: int | None = Field(description="the root filesystem's writable layer")
    disk_used_bytes: int | None = Field(description="the persistent disk, if any")


class MetricsNow(BaseModel):
    """A workspace's latest sample, with counters, limits and rates."""

    time: datetime
    cpu_percent: float | None = Field(description="% of one core (200 = two cores busy)")
    cpu_usage_seconds: float | None
    cpu_limit: float | None = Field(description="cores")
    memory_bytes: int | None
    memory_peak_bytes: int | None
    memory_limit_bytes: int | None
    memory_percent: float | None = Field(description="of the memory limit")
    pids: int | None
    pids_limit: int | None
    rootfs_used_bytes: int | None
    disk_used_bytes: int | None
    disk_size_bytes: int | None
    net_rx_bytes: int | None
    net_tx_bytes: int | None
    net_rx_bytes_per_s: float | None
    net_tx_bytes_per_s: float | None
    io_read_bytes: int | None
    io_write_bytes: int | None
    io_read_bytes_per_s: float | None
    io_write_bytes_per_s: float | None
    oom_kills: int | None
    restarts: int


class Anomaly(BaseModel):
    kind: Literal["cpu", "memory"] = Field(
        description="cpu: at 10x or more of its own trailing baseline; memory: near its limit"
    )
    message: str
    since: datetime
    value: float = Field(description="CPU % of one core, or memory bytes")
    threshold: float


class WorkspaceMetrics(BaseModel):
    workspace_id: str
    name: str
    state: State
    interval_seconds: float
    current: MetricsNow | None = Field(description="null unless running or paused")
    anomalies: list[Anomaly]
    history: list[MetricsPoint] = Field(
        description="oldest first: the last hour at the sampling interval, older points as "
        "one-minute averages (24 h)"
    )


class FleetWorkspace(BaseModel):
    id: str
    name: str
    image: str
    state: State
    current: MetricsNow | None
    anomalies: list[Anomaly]
    cpu_history: list[float | None] = Field(description="last points of cpu_percent")
    memory_history: list[float | None] = Field(description="last points of memory_bytes")


class HostInfo(BaseModel):
    cpus: int
    memory_bytes: int | None


class SamplerInfo(BaseModel):
    interval_seconds: float
    workspaces: int = Field(description="sampled by the last tick")
    tick_ms: float = Field(description="wall time of the last tick")
    tick_cpu_ms: float = Field(description="CPU time of the last tick")


class MetricsSummary(BaseModel):
    """An owner's fleet: totals, and each workspace's latest sample and recent history."""

    time: datetime
    host: HostInfo
    sampler: SamplerInfo
    workspaces_by_state: dict[str, int]
    cpu_percent: float
    memory_bytes: int
    memory_limit_bytes: int
    pids: int
    net_rx_bytes_per_s: float
    net_tx_bytes_per_s: float
    anomalies: int
    workspaces: list[FleetWorkspace]
