"""What a workspace's own token may create: its children, under its creator's `child_policy`.

An agent given `api_access` creates sandboxes with its token. Whoever created the agent set
the rules (`ChildPolicy`, stored with the agent); the token can break none of them, whatever
code runs in the agent: a compromised agent reaches its own children and nothing else.
A refusal is a 403 that names the rule. The policy also bounds each child's resources
(memory, CPU, processes, writable layer, disk): a child created without a limit gets the
ceiling as its limit, so a sandbox an agent creates bare is bounded all the same.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from corral.drivers.runtime.isolation import CONTAINER, level_of
from corral.engine.spec import Limits, StorageSpec, WorkspaceRecord
from corral.errors import Forbidden

POLICY_KEY = "child_policy"  # where a parent's policy lives in its record's `extra`


@dataclass(frozen=True)
class ChildPolicy:
    max_children: int = 5  # at most this many at once
    max_ttl_seconds: int | None = 3600  # each child must expire within this (None: may live)
    internet: bool = False  # may a child have internet (or published ports)?
    isolation: str = CONTAINER  # the weakest isolation a child may have (gvisor: only gvisor)
    # Ceilings on each child (None: none); a child that sets no limit gets the ceiling.
    max_memory_mib: int | None = 1024
    max_cpu: float | None = 1.0
    max_pids: int | None = 512
    max_rootfs_mib: int | None = 1024  # its writable layer (ENOSPC past it)
    max_disk_mib: int | None = 1024  # a persistent disk, if it asks for one

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ChildPolicy:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (raw or {}).items() if k in known})


def record_extra(policy: dict[str, Any] | None, api_access: bool) -> dict[str, Any]:
    """What a new workspace keeps in its record's `extra`: the policy its token creates
    under (the defaults when it has api_access and no policy was given)."""
    if policy is None and not api_access:
        return {}
    return {POLICY_KEY: ChildPolicy.from_json(policy).to_json()}


def policy_of(parent: WorkspaceRecord) -> ChildPolicy:
    raw = parent.extra.get(POLICY_KEY)
    return ChildPolicy.from_json(raw if isinstance(raw, dict) else None)


def with_defaults(
    policy: ChildPolicy, limits: Limits, storage: StorageSpec
) -> tuple[Limits, StorageSpec]:
    """A new child's unset limits, filled in with its parent's ceilings."""
    limits = Limits(
        cpu=limits.cpu if limits.cpu is not None else policy.max_cpu,
        memory_mib=limits.memory_mib if limits.memory_mib is not None else policy.max_memory_mib,
        pids=limits.pids if limits.pids is not None else policy.max_pids,
    )
    if storage.rootfs_mib is None and policy.max_rootfs_mib is not None:
        storage = dataclasses.replace(storage, rootfs_mib=policy.max_rootfs_mib)
    return limits, storage


def _ceilings(policy: ChildPolicy, child: WorkspaceRecord) -> None:
    asked = (
        ("max_memory_mib", "memory_mib", child.limits.memory_mib),
        ("max_cpu", "cpu", child.limits.cpu),
        ("max_pids", "pids", child.limits.pids),
        ("max_rootfs_mib", "rootfs_mib", child.storage.rootfs_mib),
    )
    for rule, field_name, value in asked:
        ceiling = getattr(policy, rule)
        if ceiling is not None and (value is None or value > ceiling):
            raise Forbidden(
                f"child_policy.{rule}: a child's {field_name} must be at most {ceiling}",
                hint=f"set {field_name} to at most {ceiling}",
            )
    disk, ceiling = child.storage.disk_mib, policy.max_disk_mib
    if ceiling is not None and disk is not None and disk > ceiling:
        raise Forbidden(f"child_policy.max_disk_mib: a child's disk_mib must be at most {ceiling}",
                        hint=f"set disk_mib to at most {ceiling}")  # fmt: skip


def check(policy: ChildPolicy, child: WorkspaceRecord, siblings: int) -> None:
    """Raise Forbidden, naming the rule, if `child` (new or changed) breaks the parent's
    policy; `siblings`: the parent's other live children."""
    if siblings >= policy.max_children:
        raise Forbidden(f"child_policy.max_children: at most {policy.max_children} children "
                        f"at once, {siblings} exist", hint="destroy a child first")  # fmt: skip
    limit = policy.max_ttl_seconds
    if limit is not None and (child.ttl_seconds is None or child.ttl_seconds > limit):
        raise Forbidden(f"child_policy.max_ttl_seconds: a child must expire within {limit} s",
                        hint=f"set ttl_seconds to at most {limit}")  # fmt: skip
    if limit is not None and child.lifecycle.on_expire != "destroy":
        raise Forbidden("child_policy.max_ttl_seconds: a child must be destroyed when its TTL "
                        "is reached", hint="on_expire=destroy")  # fmt: skip
    if not policy.internet and (child.network.internet or child.network.ports):
        raise Forbidden("child_policy.internet: children must be air-gapped (no internet, no "
                        "published ports)", hint="internet=false, ports=[]")  # fmt: skip
    if child.network.api_access:
        raise Forbidden("children of a workspace cannot have api_access")
    _ceilings(policy, child)
    if policy.isolation != CONTAINER and level_of(child.runtime) != policy.isolation:
        raise Forbidden(f"child_policy.isolation: children must run with isolation "
                        f"{policy.isolation!r}", hint=f"isolation={policy.isolation}")  # fmt: skip
