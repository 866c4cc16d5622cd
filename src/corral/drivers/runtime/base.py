"""The runtime contract: the engine's strict point of cut-off from how processes are isolated.

A runtime runs one isolated container per workspace, keyed by the workspace id. Every method
is idempotent: creating what exists, or deleting what is gone, is not an error. Inputs and
outputs are plain dataclasses, so an OCI runtime, gVisor, a microVM or Kubernetes can sit
behind the same interface without the engine knowing which.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    readonly: bool = True
    kind: Literal["bind", "tmpfs"] = "bind"
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerSpec:
    id: str
    rootfs: Path
    command: list[str] | None  # None: only the reaping init runs (an idle workspace)
    env: dict[str, str]
    hostname: str
    netns: str  # path of the network namespace to join
    log_path: Path
    cpu: float | None = None
    memory_mib: int | None = None
    pids: int | None = None
    mounts: tuple[Mount, ...] = ()
    cwd: str = "/"
    isolation: str = "container"  # which runtime runs it (`corral.drivers.runtime.isolation`)


ContainerStatus = Literal["creating", "running", "paused", "stopped"]


@dataclass(frozen=True)
class ContainerState:
    id: str
    status: ContainerStatus
    pid: int | None


@dataclass(frozen=True)
class ExecSpec:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # Fixed bytes, or a stream of chunks (interactive input); stdin is closed after the last.
    stdin: bytes | AsyncIterable[bytes] | None = None
    timeout: float = 60.0


@dataclass(frozen=True)
class OutputChunk:
    stream: Literal["stdout", "stderr"]
    data: bytes


@dataclass(frozen=True)
class ExecExit:
    exit_code: int
    timed_out: bool
    duration_ms: float


@dataclass(frozen=True)
class Exited:
    """How a container's init ended; exit_code None when it could not be observed."""

    exit_code: int | None


class Runtime(Protocol):
    name: str

    def run(self, spec: ContainerSpec) -> ContainerState:
        """Create and start the container detached; its init survives the daemon."""

    def state(self, container_id: str) -> ContainerState | None:
        """Observed state, or None when no such container exists."""

    def list(self) -> list[ContainerState]:
        """Every container this runtime holds (for the reconciler)."""

    def pause(self, container_id: str) -> None: ...

    def resume(self, container_id: str) -> None: ...

    def delete(self, container_id: str) -> None:
        """Kill every process and remove the container; no-op when absent."""

    def reap(self, container_id: str, pid: int) -> Exited | None:
        """If the container's init has exited, how; None while it still runs."""

    def holds(self, container_id: str) -> bool:
        """Whether this runtime has such a container (cheap: no subprocess)."""

    def update(
        self, container_id: str, cpu: float | None, memory_mib: int | None, pids: int | None
    ) -> None:
        """Apply new limits to the running container, live (None: leave as is)."""

    def root_path(self, container_id: str, pid: int) -> str:
        """Host path of the container's root as its processes see it (mounts included)."""

    def exec(self, container_id: str, spec: ExecSpec) -> AsyncIterator[OutputChunk | ExecExit]:
        """Run a process inside; yield its output as it comes, then exactly one ExecExit."""
