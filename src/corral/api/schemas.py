"""Request and response bodies of the public HTTP API (pydantic, validated at the boundary).

These models are the API contract: the engine works on `corral.engine.spec` dataclasses, and
the routes translate between the two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
IMAGE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
LABEL_KEY = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9_.\-/]{0,61}[A-Za-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TTL_SECONDS = 30 * 24 * 3600

RestartPolicy = Literal["always", "on-failure", "never"]
OnExpire = Literal["destroy", "pause", "stop"]
State = Literal["creating", "running", "paused", "stopped", "destroying", "destroyed", "failed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_command(command: list[str] | str | None) -> list[str] | str | None:
    if isinstance(command, list) and not command:
        raise ValueError("command must not be an empty list")
    if isinstance(command, str) and not command.strip():
        raise ValueError("command must not be blank")
    parts = [command] if isinstance(command, str) else command or []
    if any("\x00" in part for part in parts):
        raise ValueError("command contains a NUL byte")
    return command


EnvMap = TypeVar("EnvMap", bound=Mapping[str, object])


def _check_env(env: EnvMap) -> EnvMap:
    for key, value in env.items():
        if not ENV_NAME.match(key):
            raise ValueError(f"env name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(f"env value of {key!r} contains a NUL byte")
    return env


SECRET_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$"
MIN_DISK_MIB = 16
MAX_DISK_MIB = 16 * 1024 * 1024
# Where a disk or volume may not be mounted: what the runtime and corral itself mount.
_RESERVED_PATHS = ("/proc", "/sys", "/dev", "/.corral", "/etc/hosts", "/etc/resolv.conf")


def _check_mount_path(path: str) -> str:
    if not path.startswith("/") or "\x00" in path or len(path) > 4096:
        raise ValueError(f"mount path {path!r} must be an absolute path")
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"mount path {path!r} must be a normalized path below /")
    normal = "/" + "/".join(parts)
    if any(normal == r or normal.startswith(r + "/") for r in _RESERVED_PATHS):
        raise ValueError(f"mount path {path!r} is reserved")
    return normal


class EnvSecret(Strict):
    """An env value kept encrypted at rest, never returned by the API: inline
    (`{"value": "...", "secret": true}`) or one of the owner's secrets (`{"secret": "name"}`)."""

    value: Annotated[str, Field(max_length=64 * 1024)] | None = Field(default=None, repr=False)
    secret: bool | Annotated[str, Field(pattern=SECRET_NAME)]

    @model_validator(mode="after")
    def _shape(self) -> EnvSecret:
        if isinstance(self.secret, str) and self.value is not None:
            raise ValueError("give either a value or the name of a secret, not both")
        if not isinstance(self.secret, str) and self.value is None:
            raise ValueError('an inline secret needs a value: {"value": "...", "secret": true}')
        if self.value is not None and "\x00" in self.value:
            raise ValueError("env value contains a NUL byte")
        return self


class VolumeMount(Strict):
    name: str = Field(description="the volume's name or id")
    path: str = Field(description="where it appears inside the workspace")
    readonly: bool = False

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        return _check_mount_path(path)


Port = Annotated[int, Field(ge=1, le=65535)]
LinkProtocol = Literal["tcp", "udp"]
EgressEntry = Annotated[str, Field(min_length=1, max_length=253)]


class LinkTo(Strict):
    """A private link from the workspace being created to an existing one."""

    to: Annotated[str, Field(min_length=1, max_length=63, description="name or id")]
    port: Port
    protocol: LinkProtocol = "tcp"


Isolation = Literal["container", "gvisor"]


class ChildPolicy(Strict):
    """What a workspace's own token (`api_access`) may create: its children, and only so."""

    max_children: Annotated[int, Field(ge=0, le=10_000)] = Field(
        default=5, description="at most this many children at once"
    )
    max_ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = Field(
        default=3600, description="each child must be destroyed within this; null: no TTL needed"
    )
    internet: bool = Field(
        default=False, description="may children have internet or published ports (default: "
        "they must be air-gapped)"
    )  # fmt: skip
    isolation: Isolation = Field(
        default="container", description="the weakest isolation children may have"
    )
    # Ceilings on each child; a child that sets no limit gets the ceiling (null: none).
    max_memory_mib: Annotated[int, Field(ge=16, le=1024 * 1024)] | None = Field(
        default=1024, description="each child's memory_mib (its default too)"
    )
    max_cpu: Annotated[float, Field(ge=0.01, le=256)] | None = Field(
        default=1.0, description="each child's cpu (its default too)"
    )
    max_pids: Annotated[int, Field(ge=8, le=1_000_000)] | None = Field(
        default=512, description="each child's pids (its default too)"
    )
    max_rootfs_mib: Annotated[int, Field(ge=MIN_DISK_MIB, le=MAX_DISK_MIB)] | None = Field(
        default=1024, description="each child's rootfs_mib, its writable layer (its default too)"
    )
    max_disk_mib: Annotated[int, Field(ge=MIN_DISK_MIB, le=MAX_DISK_MIB)] | None = Field(
        default=1024, description="each child's disk_mib, if it asks for a disk"
    )


class WorkspaceCreate(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, description="unique per owner, DNS label")]
    image: Annotated[str, Field(pattern=IMAGE_PATTERN)] = "host"
    command: list[str] | str | None = Field(
        default=None, description="main process: argv list, or a shell string run by /bin/sh -c"
    )
    env: dict[str, str | EnvSecret] = Field(
        default_factory=dict, description="values: a string, or an EnvSecret (kept encrypted)"
    )
    cpu: Annotated[float, Field(ge=0.01, le=256, description="fractional cores")] | None = None
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
    disk_mib: Annotated[int, Field(ge=MIN_DISK_MIB, le=MAX_DISK_MIB)] | None = Field(
        default=None, description="a persistent encrypted disk of this size (its hard quota)"
    )
    disk_path: str = Field(default="/data", description="where the disk is mounted")
    rootfs_mib: Annotated[int, Field(ge=MIN_DISK_MIB, le=MAX_DISK_MIB)] | None = Field(
        default=None, description="a hard cap on the writable layer (whatever is written "
        "outside the disk): writes past it fail with ENOSPC; default: uncapped"
    )
    volumes: list[VolumeMount] = Field(default_factory=list, max_length=64)
    template: Annotated[str, Field(max_length=63)] | None = Field(
        default=None, description="a template (snapshot) to start from, by name or id"
    )
    internet: bool | None = Field(
        default=None, description="egress to the internet through NAT; default: off "
        "(air-gapped), or on when egress is given"
    )  # fmt: skip
    egress: list[EgressEntry] = Field(
        default_factory=list, max_length=64,
        description="with internet: reach only these IPv4 networks and domain names",
    )  # fmt: skip
    ports: list[Port] = Field(
        default_factory=list, max_length=32,
        description="publish these TCP ports, reachable at /v1/workspaces/{id}/ports/{port}/ "
        "with an API key (never directly)",
    )  # fmt: skip
    api_access: bool = Field(
        default=False, description="give the workspace CORRAL_URL and its own CORRAL_TOKEN"
    )
    links: list[LinkTo] = Field(
        default_factory=list, max_length=64, description="private links to existing workspaces"
    )
    isolation: Isolation = Field(
        default="container", description="container: crun/runc on the host kernel; gvisor: "
        "runsc, a user-space kernel of its own"
    )  # fmt: skip
    child_policy: ChildPolicy | None = Field(
        default=None, description="with api_access: what the workspace's token may create "
        "(default: ChildPolicy's defaults)"
    )  # fmt: skip

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str | EnvSecret]) -> dict[str, str | EnvSecret]:
        return _check_env(env)

    @model_validator(mode="after")
    def _internet(self) -> WorkspaceCreate:
        if self.internet is None:
            self.internet = bool(self.egress)
        return self

    @field_validator("disk_path")
    @classmethod
    def _disk_path(cls, path: str) -> str:
        return _check_mount_path(path)

    @model_validator(mode="after")
    def _storage(self) -> WorkspaceCreate:
        paths = [v.path for v in self.volumes] + ([self.disk_path] if self.disk_mib else [])
        if len(set(paths)) != len(paths):
            raise ValueError("two disks or volumes are mounted at the same path")
        if self.template is not None and "image" in self.model_fields_set:
            raise ValueError("give an image or a template, not both (a template has its image)")
        return self

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
        return _check_command(command)


class WorkspaceUpdate(Strict):
    """Fields to change; omitted ones stay. Changing command/env/restart/limits restarts it."""

    command: list[str] | str | None = None
    env: dict[str, str] | None = None
    restart: RestartPolicy | None = None
    labels: dict[str, str] | None = None
    cpu: Annotated[float, Field(ge=0.01, le=256)] | None = None
    memory_mib: Annotated[int, Field(ge=16, le=1024 * 1024)] | None = None
    pids: Annotated[int, Field(ge=8, le=1_000_000)] | None = None

    @field_validator("env")
    @classmethod
    def _env(cls, env: dict[str, str] | None) -> dict[str, str] | None:
        return _check_env(env) if env is not None else None

    @field_validator("command")
    @classmethod
    def _command(cls, command: list[str] | str | None) -> list[str] | str | None:
        return _check_command(command) if command is not None else None


class SetTimeout(Strict):
    ttl_seconds: Annotated[int, Field(ge=1, le=MAX_TTL_SECONDS)] | None = Field(
        description="expire this many seconds from now; null: never expire"
    )


class NetworkUpdate(Strict):
    """A live change of what a workspace may reach; omitted fields stay."""

    internet: bool | None = None
    egress: list[EgressEntry] | None = Field(default=None, max_length=64)
    ports: list[Port] | None = Field(default=None, max_length=32)


class LinkCreate(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = Field(alias="from", min_length=1, max_length=63, description="name or id")
    to: str = Field(min_length=1, max_length=63, description="name or id")
    port: Port
    protocol: LinkProtocol = "tcp"


class Link(BaseModel):
    """`from` may open connections to `to` on `port`; nothing else, and not the reverse."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    source: str = Field(alias="from", description="workspace id")
    to: str = Field(description="workspace id")
    from_name: str
    to_name: str
    port: int
    protocol: LinkProtocol
    created_at: datetime


class LinkList(BaseModel):
    links: list[Link]


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
    # Defaults keep clients working against daemons from before these fields existed.
    max_retries: int | None = None
    on_expire: OnExpire = "destroy"
    ttl_counts_paused: bool = True
    idle_timeout_seconds: int | None = None
    restart_count: int
    crash_loop: bool = Field(
        default=False, description="restarting again and again, with growing backoff"
    )
    paused_reason: str | None = None
    last_exit_code: int | None
    last_exit_at: datetime | None
    error: str | None
    runtime: str
    secret_env_names: list[str] = Field(default_factory=list, description="values never shown")
    disk_mib: int | None = None
    disk_path: str | None = None
    rootfs_mib: int | None = Field(default=None, description="the writable layer's cap")
    volumes: list[VolumeMount] = Field(default_factory=list)
    template: str | None = Field(default=None, description="id of the template it came from")
    ip: str | None = Field(default=None, description="its address on the private network")
    internet: bool = False
    egress: list[str] = Field(default_factory=list)
    ports: list[int] = Field(default_factory=list, description="published ports")
    api_access: bool = False
    isolation: Isolation = "container"
    child_policy: ChildPolicy | None = None


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
        _check_command(command)
        return command

    @field_validator("cwd")
    @classmethod
    def _cwd(cls, cwd: str | None) -> str | None:
        if cwd is not None and (not cwd.startswith("/") or "\x00" in cwd):
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
    isolation: list[Isolation] = Field(
        default_factory=lambda: list[Isolation](["container"]),
        description="isolation levels this host offers",
    )
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
    kind: Literal["cpu", "memory", "disk"] = Field(
        description="cpu: at 10x or more of its own trailing baseline; memory: near its limit; "
        "disk: its writable layer past CORRAL_ROOTFS_WARN_MIB (that layer has no size cap)"
    )
    message: str
    since: datetime
    value: float = Field(description="CPU % of one core, memory bytes or writable-layer bytes")
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


# -- secrets, volumes, templates ----------------------------------------------------------


class SecretPut(Strict):
    value: Annotated[str, Field(max_length=64 * 1024, repr=False)]

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("value contains a NUL byte")
        return value


class Secret(BaseModel):
    """A secret's name and dates: its value is never returned."""

    name: str
    created_at: datetime
    updated_at: datetime


class SecretList(BaseModel):
    secrets: list[Secret]


class VolumeCreate(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    size_mib: Annotated[int, Field(ge=MIN_DISK_MIB, le=MAX_DISK_MIB)]


class VolumeUser(BaseModel):
    workspace_id: str
    workspace_name: str
    path: str
    readonly: bool


class Volume(BaseModel):
    id: str
    name: str
    size_mib: int
    created_at: datetime
    attached: list[VolumeUser]


class VolumeList(BaseModel):
    volumes: list[Volume]


class SnapshotRequest(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, description="the template's name")]


class ForkRequest(Strict):
    name: Annotated[str, Field(pattern=NAME_PATTERN, description="the new workspace's name")]


class Template(BaseModel):
    id: str
    name: str
    image: str
    layers: int = Field(description="read-only layers stacked on the image")
    disk_mib: int | None
    disk_path: str
    source: str = Field(description="id of the workspace it was taken from")
    created_at: datetime
    duration_ms: float = Field(description="how long the snapshot took")


class TemplateList(BaseModel):
    templates: list[Template]


class MasterKeyRotation(BaseModel):
    rewrapped: int = Field(description="keys re-wrapped under the new master key")
    master_key_check: str = Field(description="public fingerprint of the new master key")
    duration_ms: float


# -- tenancy (the admin API) -----------------------------------------------------------------
TENANT_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
# What each pattern asks for, in words, for error messages.
PATTERN_WORDS = {
    NAME_PATTERN: "1-63 lowercase letters, digits or '-', starting and ending with a letter or "
    "digit (a DNS label)",
    TENANT_PATTERN: "1-40 lowercase letters, digits or '-', starting and ending with a letter "
    "or digit",
    IMAGE_PATTERN: "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
    SECRET_NAME: "1-63 letters, digits, '_', '.' or '-', starting with a letter, digit or '_'",
}


class Quotas(Strict):
    """A tenant's limits; null: unlimited."""

    max_workspaces: Annotated[int, Field(ge=0)] | None = None
    max_cpu: Annotated[float, Field(ge=0)] | None = Field(default=None, description="cores")
    max_memory_mib: Annotated[int, Field(ge=0)] | None = None
    max_disk_mib: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="workspaces' disks and volumes"
    )
    max_temporary: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="concurrent temporary sandboxes (workspaces with a TTL)"
    )


class TenantCreate(Strict):
    name: Annotated[str, Field(pattern=TENANT_PATTERN, description="a DNS label")]
    quotas: Quotas = Field(default_factory=Quotas)


class TenantUpdate(Strict):
    quotas: Quotas


class Usage(BaseModel):
    workspaces: int
    cpu: float
    memory_mib: int
    disk_mib: int
    temporary: int


class Tenant(BaseModel):
    name: str
    quotas: Quotas
    usage: Usage
    created_at: datetime


class TenantList(BaseModel):
    tenants: list[Tenant]


class TenantDeleted(BaseModel):
    name: str
    workspaces_destroyed: int


class KeyCreate(Strict):
    role: Literal["member", "admin"] = Field(
        default="member", description="admin: only for the admin tenant"
    )


class ApiKey(BaseModel):
    id: str
    prefix: str = Field(description="the key's first characters, to recognise it")
    owner: str = Field(description="the tenant, or <tenant>/<workspace> for a workspace's token")
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKey):
    key: str = Field(description="the key itself: shown this once, stored only hashed")


class ApiKeyList(BaseModel):
    keys: list[ApiKey]


class AuditEntry(BaseModel):
    id: int
    time: datetime
    tenant: str | None = Field(description="null: the call was not authenticated")
    owner: str | None
    key_prefix: str | None
    action: str = Field(description="method and route")
    target: dict[str, object] | None
    status: int
    duration_ms: float


class AuditLog(BaseModel):
    entries: list[AuditEntry]
