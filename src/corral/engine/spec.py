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

    @property
    def temporary(self) -> bool:
        return self.ttl_seconds is not None
