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

    @property
    def temporary(self) -> bool:
        return self.ttl_seconds is not None
