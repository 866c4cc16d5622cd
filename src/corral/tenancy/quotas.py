"""Per-tenant quotas, and the pure check of one more workspace against them.

A quota left at None is unlimited. Usage counts every workspace of the tenant that is not
destroyed (stopped and failed ones keep their disk and their place), its workspaces'
children included, plus its volumes for disk. As with Kubernetes' ResourceQuota, a tenant
with a CPU (memory) quota must give each workspace a CPU (memory) limit: an unlimited
workspace cannot be counted against a total.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from corral.engine.spec import WorkspaceRecord
from corral.errors import InvalidSpec, QuotaExceeded


@dataclass(frozen=True)
class Quotas:
    max_workspaces: int | None = None
    max_cpu: float | None = None  # cores, summed over workspaces
    max_memory_mib: int | None = None
    max_disk_mib: int | None = None  # workspaces' disks, capped writable layers, volumes
    max_temporary: int | None = None  # concurrent temporary sandboxes (workspaces with a TTL)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> Quotas:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (raw or {}).items() if k in known})


@dataclass(frozen=True)
class Usage:
    workspaces: int = 0
    cpu: float = 0.0
    memory_mib: int = 0
    disk_mib: int = 0
    temporary: int = 0

    @classmethod
    def of(cls, records: Iterable[WorkspaceRecord], volumes_mib: int = 0) -> Usage:
        usage = cls(disk_mib=volumes_mib)
        for ws in records:
            usage = usage + demand(ws)
        return usage

    def within(self, other: Usage) -> bool:
        """Whether this takes no more than `other` of anything."""
        return all(a <= b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other),
                                          strict=True))  # fmt: skip

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(dataclasses.astuple(self),
                                             dataclasses.astuple(other), strict=True)))


def demand(ws: WorkspaceRecord) -> Usage:
    """What one workspace takes of its tenant's quotas."""
    return Usage(
        workspaces=1,
        cpu=ws.limits.cpu or 0.0,
        memory_mib=ws.limits.memory_mib or 0,
        disk_mib=(ws.storage.disk_mib or 0) + (ws.storage.rootfs_mib or 0),
        temporary=1 if ws.temporary else 0,
    )


_HINT = "destroy some of the tenant's workspaces, or ask an admin to raise the quota"


def check_workspace(tenant: str, quotas: Quotas, usage: Usage, ws: WorkspaceRecord) -> None:
    """Raise if `ws` would take `tenant` past a quota (or cannot be counted against one)."""
    if quotas.max_cpu is not None and ws.limits.cpu is None:
        raise InvalidSpec(f"tenant {tenant!r} has a CPU quota (max_cpu={quotas.max_cpu:g}): "
                          "each workspace needs a cpu limit", hint="set cpu")  # fmt: skip
    if quotas.max_memory_mib is not None and ws.limits.memory_mib is None:
        raise InvalidSpec(f"tenant {tenant!r} has a memory quota (max_memory_mib="
                          f"{quotas.max_memory_mib}): each workspace needs a memory limit",
                          hint="set memory_mib")  # fmt: skip
    check(tenant, quotas, usage, demand(ws))


def check(tenant: str, quotas: Quotas, usage: Usage, want: Usage) -> None:
    """Raise QuotaExceeded, naming the quota, if `want` more would take `tenant` past one."""
    after = usage + want
    checks = (
        ("max_workspaces", quotas.max_workspaces if want.workspaces else None, after.workspaces,
         usage.workspaces, "workspaces"),
        ("max_temporary", quotas.max_temporary if want.temporary else None, after.temporary,
         usage.temporary, "temporary sandboxes"),
        ("max_cpu", quotas.max_cpu, after.cpu, usage.cpu, "cores"),
        ("max_memory_mib", quotas.max_memory_mib, after.memory_mib, usage.memory_mib, "MiB memory"),
        ("max_disk_mib", quotas.max_disk_mib, after.disk_mib, usage.disk_mib, "MiB disk"),
    )  # fmt: skip
    for name, limit, total, used, unit in checks:
        if limit is not None and total > limit + 1e-9:
            raise QuotaExceeded(
                f"quota {name} exceeded: tenant {tenant!r} may have {limit:g} {unit}, "
                f"has {used:g} and this needs {total - used:g} more",
                hint=_HINT,
            )
