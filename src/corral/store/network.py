"""Rows of the private network: address allocations (IPAM) and private links."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from corral.engine.spec import LinkRecord
from corral.errors import Conflict, NotFound, QuotaExceeded
from corral.store import tables as t
from corral.store.store import Store, _aware, utcnow


class NetworkRows:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._write_lock = store._write_lock

    # -- addresses --------------------------------------------------------------------------

    def allocate(self, workspace_id: str, candidates: Iterable[str]) -> str:
        """The workspace's address: the one it holds, else the first free candidate."""
        a = t.addresses
        mine = select(a.c.ip).where(a.c.workspace_id == workspace_id)
        with self._engine.connect() as conn:
            held = conn.execute(mine).scalar()
        if held is not None:
            return str(held)
        with self._write_lock, self._engine.begin() as conn:
            held = conn.execute(mine).scalar()
            if held is not None:
                return str(held)
            used = set(conn.execute(select(a.c.ip)).scalars())
            ip = next((ip for ip in candidates if ip not in used), None)
            if ip is None:
                hint = "destroy workspaces, or give corral a larger subnet (CORRAL_SUBNET)"
                raise QuotaExceeded("no free address left in the workspace subnet", hint=hint)
            conn.execute(insert(a).values(ip=ip, workspace_id=workspace_id, allocated_at=utcnow()))
        return ip

    def release(self, workspace_id: str) -> None:
        """A workspace leaves the network: its address and every link from or to it."""
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(delete(t.addresses).where(t.addresses.c.workspace_id == workspace_id))
            conn.execute(delete(t.links).where(_touches(workspace_id)))

    def allocations(self) -> dict[str, str]:
        """workspace id -> address, for every allocation."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(t.addresses.c.workspace_id, t.addresses.c.ip))
            return {str(wid): str(ip) for wid, ip in rows}

    # -- links ------------------------------------------------------------------------------

    def insert_link(self, link: LinkRecord) -> None:
        row = dataclasses.asdict(link)
        with self._write_lock, self._engine.begin() as conn:
            try:
                conn.execute(insert(t.links).values(**row))
            except IntegrityError:
                hint = "GET /v1/links lists them"
                raise Conflict("that link already exists", hint=hint) from None

    def get_link(self, link_id: str, owner: str | None = None) -> LinkRecord:
        query = select(t.links).where(t.links.c.id == link_id)
        if owner is not None:
            query = query.where(t.links.c.owner == owner)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no link {link_id!r}", hint="GET /v1/links lists them")
        return _link(row)

    def list_links(
        self, owner: str | None = None, workspace_id: str | None = None
    ) -> list[LinkRecord]:
        query = select(t.links).order_by(t.links.c.created_at)
        if owner is not None:
            query = query.where(t.links.c.owner == owner)
        if workspace_id is not None:
            query = query.where(_touches(workspace_id))
        with self._engine.connect() as conn:
            return [_link(row) for row in conn.execute(query).mappings()]

    def delete_link(self, link_id: str) -> None:
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(delete(t.links).where(t.links.c.id == link_id))

    # -- the reconciler -------------------------------------------------------------------

    def prune(self, live: set[str]) -> int:
        """Drop the addresses and links of workspaces that no longer exist."""
        removed = 0
        for workspace_id in set(self.allocations()) - live:
            self.release(workspace_id)
            removed += 1
        for link in self.list_links():  # links whose ends hold no address
            if link.source not in live or link.target not in live:
                self.delete_link(link.id)
                removed += 1
        return removed


def _touches(workspace_id: str) -> Any:
    return or_(t.links.c.source == workspace_id, t.links.c.target == workspace_id)


def _link(row: Any) -> LinkRecord:
    return LinkRecord(
        id=row["id"],
        owner=row["owner"],
        source=row["source"],
        target=row["target"],
        port=row["port"],
        protocol=row["protocol"],
        created_at=_aware(row["created_at"]) or utcnow(),
    )
