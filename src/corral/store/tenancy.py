"""Rows of tenants, of their API keys (as the admin API lists them) and of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from corral.engine.spec import WorkspaceRecord
from corral.engine.states import State
from corral.errors import Conflict
from corral.store import tables as t
from corral.store.store import Store, _aware, _from_row, utcnow


def _of_tenant(column: Any, tenant: str) -> ColumnElement[bool]:
    """`column` (an owner) belongs to `tenant`: the tenant itself or a workspace's scope."""
    return or_(column == tenant, column.startswith(tenant + "/", autoescape=True))


class TenancyRows:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._write_lock = store._write_lock

    # -- tenants ----------------------------------------------------------------------------

    def insert_tenant(self, name: str, quotas: dict[str, Any]) -> None:
        with self._write_lock, self._engine.begin() as conn:
            try:
                conn.execute(insert(t.tenants).values(name=name, quotas=quotas,
                                                       created_at=utcnow()))  # fmt: skip
            except IntegrityError:
                raise Conflict(f"tenant {name!r} already exists") from None

    def get_tenant(self, name: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(t.tenants).where(t.tenants.c.name == name)).mappings().first()
        return _tenant(row) if row else None

    def list_tenants(self) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = conn.execute(select(t.tenants).order_by(t.tenants.c.created_at)).mappings()
            return [_tenant(row) for row in rows]

    def set_quotas(self, name: str, quotas: dict[str, Any]) -> None:
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(update(t.tenants).where(t.tenants.c.name == name).values(quotas=quotas))

    def delete_tenant(self, name: str) -> None:
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(delete(t.tenants).where(t.tenants.c.name == name))

    # -- what a tenant holds ---------------------------------------------------------------------

    def workspaces(self, tenant: str) -> list[WorkspaceRecord]:
        """Every workspace of the tenant that is not destroyed, its workspaces' children too."""
        query = select(t.workspaces).where(
            _of_tenant(t.workspaces.c.owner, tenant), t.workspaces.c.state != State.DESTROYED
        )
        with self._engine.connect() as conn:
            return [_from_row(row) for row in conn.execute(query).mappings()]

    def owners(self, tenant: str) -> set[str]:
        """Every owner of the tenant that holds anything: itself and its workspaces' scopes."""
        found = {tenant}
        for table in (t.workspaces, t.volumes, t.templates, t.secrets, t.webhooks):
            query = select(table.c.owner).distinct().where(_of_tenant(table.c.owner, tenant))
            with self._engine.connect() as conn:
                found.update(row[0] for row in conn.execute(query))
        return found

    def volumes_mib(self, tenant: str) -> int:
        query = select(func.coalesce(func.sum(t.volumes.c.size_mib), 0)).where(
            _of_tenant(t.volumes.c.owner, tenant)
        )
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    # -- keys ---------------------------------------------------------------------------------

    def keys(self, tenant: str) -> list[dict[str, Any]]:
        query = (select(t.api_keys).where(_of_tenant(t.api_keys.c.owner, tenant))
                 .order_by(t.api_keys.c.created_at))  # fmt: skip
        with self._engine.connect() as conn:
            return [_key(row) for row in conn.execute(query).mappings()]

    def revoke_keys(self, tenant: str) -> int:
        with self._write_lock, self._engine.begin() as conn:
            result = conn.execute(
                update(t.api_keys)
                .where(_of_tenant(t.api_keys.c.owner, tenant), t.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return int(result.rowcount)

    # -- the audit log ----------------------------------------------------------------------------

    def insert_audit(self, **row: Any) -> None:
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(insert(t.audit_log), row)

    def audit(
        self,
        tenant: str | None = None,
        since: datetime | None = None,
        action: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """The newest entries first."""
        query = select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit)
        if tenant is not None:
            query = query.where(t.audit_log.c.tenant == tenant)
        if since is not None:
            query = query.where(t.audit_log.c.time >= since)
        if action is not None:
            query = query.where(t.audit_log.c.action.contains(action, autoescape=True))
        with self._engine.connect() as conn:
            rows = [dict(row) for row in conn.execute(query).mappings()]
        for row in rows:
            row["time"] = _aware(row["time"])
        return rows


def _tenant(row: Any) -> dict[str, Any]:
    return {**row, "created_at": _aware(row["created_at"])}


def _key(row: Any) -> dict[str, Any]:
    found = {k: v for k, v in row.items() if k != "hash"}
    for name in ("created_at", "last_used_at", "revoked_at"):
        found[name] = _aware(found[name])
    return found
