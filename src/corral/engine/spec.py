"""What a workspace should be (the desired state), as the engine and drivers see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from corral.engine.states import State


@dataclass(frozen=True)
class Limits:
    cpu: float | None = None  # fractional cores
    memory_mib: int | None = None
    pids: int | None = None


@dataclass(frozen=True)
class Lifecycle:
    """How the supervisor treats a workspace over time."""

    max_retries: int | None = None  # on-failure: give up after this many restarts in a row
    on_expire: str = "destroy"  # destroy | pause | stop, when the TTL is reached
    ttl_counts_paused: bool = True  # does time spent paused count against the TTL?
    idle_timeout_seconds: int | None = None  # pause after this long with no activity


@dataclass(frozen=True)
class SecretValue:
    """An env value to keep encrypted at rest (never shown by repr, so never logged)."""

    value: str = field(repr=False)


@dataclass(frozen=True)
class SecretRef:
    """An env value taken from the owner's secret store (`corral secret set NAME`)."""

    name: str


EnvValue = str | SecretValue | SecretRef


@dataclass(frozen=True)
class SecretEnv:
    """How a secret env value is stored: sealed under the workspace's data key, or a ref."""

    sealed: bytes | None = field(default=None, repr=False)
    ref: str | None = None


@dataclass(frozen=True)
class VolumeAttachment:
    volume: str  # the volume's id once resolved (its name or id in a request)
    path: str
    readonly: bool = False


@dataclass(frozen=True)
class StorageSpec:
    """A workspace's persistent storage: its own encrypted disk, volumes, its template."""

    disk_mib: int | None = None
    disk_path: str = "/data"
    volumes: tuple[VolumeAttachment, ...] = ()
    template: str | None = None  # the template's id once resolved (name in a request)
    # The writable layer's size cap (a filesystem of its own); None: uncapped, on the host's.
    rootfs_mib: int | None = None


@dataclass
class VolumeRecord:
    """A named encrypted disk of its own, attached to workspaces, outliving them."""

    id: str
    owner: str
    name: str
    size_mib: int
    created_at: datetime


@dataclass
class TemplateRecord:
    """A snapshot of a workspace: a read-only layer (+ its disk) to create workspaces from."""

    id: str
    owner: str
    name: str
    image: str  # the base image under the layers
    layers: tuple[str, ...]  # template ids whose layers stack, topmost (this one) first
    disk_mib: int | None
    disk_path: str
    source: str  # the workspace it was taken from
    created_at: datetime
    duration_ms: float = 0.0


@dataclass(frozen=True)
class NetworkSpec:
    """A workspace's private network: its address (from IPAM) and what it may reach.

    Air-gapped by default: no internet, nothing published, no API access; other workspaces
    reach it only over declared private links (`LinkRecord`).
    """

    ip: str | None = None  # allocated at create, kept until destroy
    internet: bool = False
    egress: tuple[str, ...] = ()  # with internet: only these networks and domains (empty: all)
    ports: tuple[int, ...] = ()  # published: reachable through the daemon's proxy only
    api_access: bool = False  # the workspace gets CORRAL_URL and CORRAL_TOKEN


@dataclass(frozen=True)
class LinkTarget:
    """A private link declared at create: from the new workspace to `to` (name or id)."""

    to: str
    port: int
    protocol: str = "tcp"


@dataclass
class LinkRecord:
    """`source` may open connections to `target` on `port` (nothing else, not the reverse)."""

    id: str
    owner: str
    source: str  # workspace ids
    target: str
    port: int
    protocol: str
    created_at: datetime


@dataclass
class WorkspaceRecord:
    """One row of the store: the desired state plus what the engine last observed."""

    id: str
    owner: str
    name: str
    image: str
    state: State
    command: list[str] | None
    env: dict[str, str]
    limits: Limits
    restart: str
    labels: dict[str, str]
    created_at: datetime
    updated_at: datetime
    ttl_seconds: int | None = None
    expires_at: datetime | None = None
    runtime: str = ""
    restart_count: int = 0
    last_exit_code: int | None = None
    last_exit_at: datetime | None = None
    error: str | None = None
    extra: dict[str, object] = field(default_factory=dict)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    storage: StorageSpec = field(default_factory=StorageSpec)
    secret_env: dict[str, SecretEnv] = field(default_factory=dict)
    network: NetworkSpec = field(default_factory=NetworkSpec)

    @property
    def temporary(self) -> bool:
        return self.ttl_seconds is not None
