"""Isolation levels: which runtime runs a workspace, chosen per workspace at create.

- `container`: an OCI runtime (crun or runc): namespaces, cgroups, seccomp, dropped
  capabilities, on the host's kernel. Always there; the default.
- `gvisor`: runsc, a user-space kernel per workspace between its processes and the host's
  (`corral.drivers.runtime.runsc`). There when runsc is installed.

`Isolation` holds one runtime per level and is itself a `Runtime`: the engine calls it as it
would call one runtime. `run` goes to the level the spec names; every other call goes to the
runtime that holds the container (each keeps its own state directory), so a workspace is
always handled by the runtime that started it, across daemon restarts too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from corral.drivers.runtime.base import (
    ContainerSpec,
    ContainerState,
    ExecExit,
    ExecSpec,
    Exited,
    OutputChunk,
    Runtime,
)
from corral.errors import InvalidSpec

CONTAINER, GVISOR = "container", "gvisor"
LEVELS = (CONTAINER, GVISOR)
# What a workspace's recorded runtime name says about its isolation level.
_LEVEL_OF_RUNTIME = {"runsc": GVISOR}


def level_of(runtime_name: str) -> str:
    """The isolation level of a workspace run by `runtime_name` (crun, runc, runsc...)."""
    return _LEVEL_OF_RUNTIME.get(runtime_name, CONTAINER)


class Isolation:
    def __init__(self, runtimes: Mapping[str, Runtime]) -> None:
        if CONTAINER not in runtimes:
            raise ValueError("the container isolation level is required")
        self.runtimes = dict(runtimes)
        self.default = self.runtimes[CONTAINER]
        self.name = self.default.name

    def levels(self) -> list[str]:
        return [level for level in LEVELS if level in self.runtimes]

    def for_level(self, level: str) -> Runtime:
        try:
            return self.runtimes[level]
        except KeyError:
            hint = "apt-get install runsc, then restart corral" if level == GVISOR else None
            raise InvalidSpec(f"isolation {level!r} is not available on this host "
                              f"(available: {', '.join(self.levels())})", hint=hint) from None

    def _holder(self, container_id: str) -> Runtime:
        for runtime in self.runtimes.values():
            if runtime is not self.default and runtime.holds(container_id):
                return runtime
        return self.default

    # -- the Runtime interface, routed ----------------------------------------------------

    def run(self, spec: ContainerSpec) -> ContainerState:
        return self.for_level(spec.isolation).run(spec)

    def state(self, container_id: str) -> ContainerState | None:
        return self._holder(container_id).state(container_id)

    def list(self) -> list[ContainerState]:
        return [state for runtime in self.runtimes.values() for state in runtime.list()]

    def pause(self, container_id: str) -> None:
        self._holder(container_id).pause(container_id)

    def update(
        self, container_id: str, cpu: float | None, memory_mib: int | None, pids: int | None
    ) -> None:
        self._holder(container_id).update(container_id, cpu, memory_mib, pids)

    def resume(self, container_id: str) -> None:
        self._holder(container_id).resume(container_id)

    def delete(self, container_id: str) -> None:
        self._holder(container_id).delete(container_id)

    def reap(self, container_id: str, pid: int) -> Exited | None:
        return self._holder(container_id).reap(container_id, pid)

    def holds(self, container_id: str) -> bool:
        return any(runtime.holds(container_id) for runtime in self.runtimes.values())

    def root_path(self, container_id: str, pid: int) -> str:
        return self._holder(container_id).root_path(container_id, pid)

    def exec(self, container_id: str, spec: ExecSpec) -> AsyncIterator[OutputChunk | ExecExit]:
        return self._holder(container_id).exec(container_id, spec)
