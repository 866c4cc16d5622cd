"""`Tenancy`: tenants and their keys, quotas and child policies, attached to the engine.

`attach` wires it into the engine without the engine knowing about tenants:
- `engine.admission`: every workspace create passes `admit` (quotas, child policy) under
  the tenant's lock, up to and including its insert into the store, so two racing creates
  cannot both take the last unit of a quota and a refused create leaves nothing behind;
  spec changes of live workspaces pass `check_change` the same way;
- an event listener destroys a workspace's children when it is destroyed (cascade), and
  `sweep` (at start) finishes any cascade a crash interrupted.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral.engine.engine import Engine
from corral.engine.events import Event
from corral.engine.spec import Limits, StorageSpec, WorkspaceRecord
from corral.engine.states import State
from corral.engine.webhooks import Webhooks
from corral.errors import Conflict, CorralError, Forbidden, InvalidSpec, NotFound
from corral.store import Store
from corral.store.api_keys import issue_key
from corral.store.tenancy import TenancyRows
from corral.tenancy import children, quotas
from corral.tenancy.quotas import Quotas, Usage
from corral.tenancy.scopes import (
    ADMIN_TENANT,
    TENANT_NAME,
    children_of,
    parent_of,
    tenant_of,
)

log = logging.getLogger("corral.tenancy")

KEY_ROLES = ("member", "admin")
_LIVE = (State.CREATING, State.RUNNING, State.PAUSED, State.STOPPED, State.FAILED)


@dataclass(frozen=True)
class Tenant:
    name: str
    quotas: Quotas
    created_at: datetime


class Tenancy:
    def __init__(self, store: Store, engine: Engine, webhooks: Webhooks | None = None) -> None:
        self.store = store
        self.engine = engine
        self.webhooks = webhooks
        self.rows = TenancyRows(store)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        if self.rows.get_tenant(ADMIN_TENANT) is None:
            with contextlib.suppress(Conflict):
                self.rows.insert_tenant(ADMIN_TENANT, Quotas().to_json())

    def attach(self) -> Tenancy:
        self.engine.admission = self
        self.engine.events.listeners.append(self._on_event)
        return self

    @contextlib.contextmanager
    def _tenant_lock(self, tenant: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(tenant, threading.Lock())
        with lock:
            yield

    # -- tenants ------------------------------------------------------------------------------

    def create_tenant(self, name: str, limits: Quotas) -> Tenant:
        if not TENANT_NAME.match(name):
            raise InvalidSpec(f"tenant name {name!r} must be a DNS label of at most 40 characters")
        self.rows.insert_tenant(name, limits.to_json())
        return self.tenant(name)

    def tenant(self, name: str) -> Tenant:
        row = self.rows.get_tenant(name)
        if row is None:
            raise NotFound(f"no tenant {name!r}", hint="`corral admin tenant ls` lists tenants")
        return Tenant(row["name"], Quotas.from_json(row["quotas"]), row["created_at"])

    def tenants(self) -> list[Tenant]:
        return [Tenant(r["name"], Quotas.from_json(r["quotas"]), r["created_at"])
                for r in self.rows.list_tenants()]  # fmt: skip

    def set_quotas(self, name: str, limits: Quotas) -> Tenant:
        self.tenant(name)
        self.rows.set_quotas(name, limits.to_json())
        return self.tenant(name)

    def usage(self, name: str) -> Usage:
        return Usage.of(self.rows.workspaces(name), self.rows.volumes_mib(name))

    def delete_tenant(self, name: str) -> int:
        """Account deletion: the tenant's keys are revoked first (nothing new can start), then
        every workspace is destroyed, every template, volume, secret and webhook deleted
        (disks and keys crypto-erased); returns how many workspaces were destroyed."""
        if name == ADMIN_TENANT:
            raise Forbidden("the admin tenant cannot be deleted")
        self.tenant(name)
        self.rows.revoke_keys(name)
        destroyed = 0
        # Parents first: their children go with them (cascade), the rest after.
        for ws in sorted(self.rows.workspaces(name), key=lambda w: parent_of(w.owner) is not None):
            with contextlib.suppress(NotFound):
                if self.engine.destroy(ws.id, ws.owner).state == State.DESTROYED:
                    destroyed += 1
        for owner in self.rows.owners(name):
            self._delete_owned(owner)
        self.rows.delete_tenant(name)
        return destroyed

    def _delete_owned(self, owner: str) -> None:
        """What outlives workspaces: templates (newest first: they stack), volumes, secrets,
        webhooks."""
        engine = self.engine
        for template in sorted(engine.snapshots.list(owner), key=lambda t: t.created_at,
                               reverse=True):  # fmt: skip
            engine.snapshots.delete(template.id, owner)
        for volume in engine.volumes.list(owner):
            engine.volumes.delete(volume.id, owner)
        for secret in engine.secrets.list(owner):
            engine.secrets.delete(owner, secret.name)
        if self.webhooks is not None:
            for hook in self.webhooks.list(owner):
                self.webhooks.delete(owner, hook.id)

    # -- keys -----------------------------------------------------------------------------------

    def create_key(self, tenant: str, role: str) -> tuple[dict[str, Any], str]:
        """A new key of the tenant: (its row, the key itself, shown once)."""
        self.tenant(tenant)
        if role not in KEY_ROLES:
            raise InvalidSpec(f"role {role!r} is not one of {', '.join(KEY_ROLES)}")
        if role == "admin" and tenant != ADMIN_TENANT:
            raise InvalidSpec("admin keys belong to the admin tenant",
                              hint=f"create it under tenant {ADMIN_TENANT!r}")  # fmt: skip
        key_id, key = issue_key(self.store, tenant, role)
        return self._key(tenant, key_id), key

    def keys(self, tenant: str) -> list[dict[str, Any]]:
        self.tenant(tenant)
        return self.rows.keys(tenant)

    def _key(self, tenant: str, key_id: str) -> dict[str, Any]:
        for row in self.rows.keys(tenant):
            if row["id"] == key_id:
                return row
        raise NotFound(f"tenant {tenant!r} has no key {key_id!r}")

    def revoke_key(self, tenant: str, key_id: str) -> dict[str, Any]:
        row = self._key(tenant, key_id)
        if row["revoked_at"] is None:
            self.store.revoke_api_key(key_id)
        return self._key(tenant, key_id)

    # -- admission (the engine's hook) -------------------------------------------------------

    def defaults(
        self, owner: str, limits: Limits, storage: StorageSpec
    ) -> tuple[Limits, StorageSpec]:
        """A child's unset limits come from its parent's policy; a tenant's stay unset."""
        parent_id = parent_of(owner)
        if parent_id is None:
            return limits, storage
        parent = self._live_parent(tenant_of(owner), parent_id)
        return children.with_defaults(children.policy_of(parent), limits, storage)

    @contextlib.contextmanager
    def admit(self, ws: WorkspaceRecord) -> Iterator[None]:
        """Check a new workspace, then hold the tenant's lock while the engine records it."""
        tenant = tenant_of(ws.owner)
        with self._tenant_lock(tenant):
            # The tenant's workspaces are read only if a rule needs them (a child's siblings,
            # a quota): a create of a tenant with neither stays O(1).
            self._check(tenant, ws, others=functools.cache(lambda: self.rows.workspaces(tenant)))
            yield

    def check_change(self, ws: WorkspaceRecord) -> None:
        """Check a live workspace's changed spec (limits, TTL, network) as if it were new;
        quotas only if it takes more than before (a lowered quota stops growth, not edits)."""
        tenant = tenant_of(ws.owner)
        with self._tenant_lock(tenant):
            current = self.rows.workspaces(tenant)
            others = [w for w in current if w.id != ws.id]
            before = next((quotas.demand(w) for w in current if w.id == ws.id), Usage())
            self._check(tenant, ws, lambda: others, quota=not quotas.demand(ws).within(before))

    def _check(
        self,
        tenant: str,
        ws: WorkspaceRecord,
        others: Callable[[], list[WorkspaceRecord]],
        quota: bool = True,
    ) -> None:
        parent_id = parent_of(ws.owner)
        if parent_id is not None:
            parent = self._live_parent(tenant, parent_id)
            siblings = sum(1 for w in others() if w.owner == ws.owner and w.state in _LIVE)
            children.check(children.policy_of(parent), ws, siblings)
        elif ws.extra.get(children.POLICY_KEY) is not None and not ws.network.api_access:
            raise InvalidSpec("child_policy is for workspaces with api_access",
                              hint="set api_access=true, or drop child_policy")  # fmt: skip
        if not quota:
            return
        row = self.rows.get_tenant(tenant)
        limits = Quotas.from_json(row["quotas"]) if row else Quotas()
        if limits == Quotas():
            return
        usage = Usage.of(others(), self.rows.volumes_mib(tenant))
        quotas.check_workspace(tenant, limits, usage, ws)

    @contextlib.contextmanager
    def admit_volume(self, owner: str, size_mib: int) -> Iterator[None]:
        """Check a new volume against the disk quota; hold the tenant's lock while it is made."""
        tenant = tenant_of(owner)
        with self._tenant_lock(tenant):
            row = self.rows.get_tenant(tenant)
            limits = Quotas.from_json(row["quotas"]) if row else Quotas()
            quotas.check(tenant, limits, self.usage(tenant), Usage(disk_mib=size_mib))
            yield

    def _live_parent(self, tenant: str, parent_id: str) -> WorkspaceRecord:
        try:
            parent = self.store.get_workspace(parent_id, tenant)
        except NotFound:
            raise Forbidden("this token's workspace is gone") from None
        if parent.state not in _LIVE:
            raise Forbidden(f"this token's workspace is {parent.state.value}")
        return parent

    # -- cascade -------------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if event.type == "state" and event.data.get("after") == State.DESTROYED.value:
            if event.workspace_id is not None:
                self.destroy_children(children_of(event.owner, event.workspace_id))

    def destroy_children(self, owner: str) -> int:
        """Destroy every live workspace of `owner` (a workspace's children scope)."""
        count = 0
        for child in self.store.list_workspaces(owner):
            try:
                self.engine.destroy(child.id, owner)
                count += 1
            except CorralError as exc:  # the sweep at the next start finishes it
                log.warning("could not destroy %s, child of a destroyed workspace: %s",
                            child.id, exc)  # fmt: skip
        return count

    def sweep(self) -> int:
        """Destroy children whose parent is gone (a crash between the two destroys)."""
        count = 0
        scopes = {ws.owner for ws in self.store.list_workspaces() if parent_of(ws.owner)}
        for owner in scopes:
            parent_id = parent_of(owner)
            assert parent_id is not None
            try:
                gone = self.store.get_workspace(parent_id).state not in _LIVE
            except NotFound:
                gone = True
            if gone:
                count += self.destroy_children(owner)
        if count:
            log.info("destroyed %d children of destroyed workspaces", count)
        return count
