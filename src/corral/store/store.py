"""The store: the only place that reads or writes the database."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    bindparam,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from corral.engine.spec import Lifecycle, Limits, NetworkSpec, WorkspaceRecord
from corral.engine.states import State
from corral.errors import Conflict, NotFound
from corral.store import codecs
from corral.store import tables as t


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite gives back naive datetimes; every time in corral is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# The hottest statements, built once with bound parameters: SQLAlchemy reuses their compiled
# form as is, where a statement rebuilt with its values for every call has its cache key
# recomputed from all of them (a third of a pause or resume request's time went there).
_W = t.workspaces
_UPDATE_WORKSPACE = (
    update(_W)
    .where(_W.c.id == bindparam("where_id"))
    .values({c: bindparam(f"v_{c.name}", type_=c.type) for c in _W.columns if c.name != "id"})
)
_WORKSPACE_BY_ID = select(_W).where(_W.c.id == bindparam("id"))
_WORKSPACE_BY_ID_OF = _WORKSPACE_BY_ID.where(_W.c.owner == bindparam("owner"))
_WORKSPACE_BY_NAME_OF = select(_W).where(
    _W.c.owner == bindparam("owner"), _W.c.name_key == bindparam("name")
)


_NETWORK_VIEWS = (
    select(_W.c.id, _W.c.name, _W.c.network)
    .where(_W.c.state != State.DESTROYED.value)
    .order_by(_W.c.created_at)
)


def _update_params(ws_id: str, row: dict[str, Any]) -> dict[str, Any]:
    return {"where_id": ws_id, **{f"v_{k}": v for k, v in row.items() if k != "id"}}


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, future=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        t.metadata.create_all(self.engine)
        _add_missing_columns(self.engine)
        # SQLite allows one writer; serialising writes here avoids "database is locked".
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction. Every write (and checkpoint) in the process goes through the
        one write lock: SQLite takes one writer at a time anyway, and writes and checkpoints
        racing on separate connections are what its WAL-reset bug (fixed in 3.51.3; Debian 12
        ships 3.40) needs."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    # -- workspaces -------------------------------------------------------------------

    def insert_workspace(self, ws: WorkspaceRecord) -> None:
        row = _to_row(ws)
        with self._write_lock, self.engine.begin() as conn:
            try:
                conn.execute(insert(t.workspaces).values(**row))
            except IntegrityError:
                raise Conflict(
                    f"a workspace named {ws.name!r} already exists",
                    hint="pick another name or destroy the existing one",
                ) from None

    def save_workspace(self, ws: WorkspaceRecord) -> None:
        """Write the record back; a Conflict if its (new) name is taken within its owner."""
        ws.updated_at = utcnow()
        params = _update_params(ws.id, _to_row(ws))
        with self._write_lock, self.engine.begin() as conn:
            try:
                conn.execute(_UPDATE_WORKSPACE, params)
            except IntegrityError:
                raise Conflict(
                    f"a workspace named {ws.name!r} already exists",
                    hint="pick another name or destroy the existing one",
                ) from None

    def claim_workspace(self, ws: WorkspaceRecord) -> None:
        """Save a record whose owner and name changed (a warm sandbox handed to a caller)."""
        self.save_workspace(ws)

    def get_workspace(self, ref: str, owner: str | None = None) -> WorkspaceRecord:
        """By id, or by live name within the owner."""
        with self.engine.connect() as conn:
            if owner is None:
                row = conn.execute(_WORKSPACE_BY_ID, {"id": ref}).mappings().first()
            else:
                by_id = conn.execute(_WORKSPACE_BY_ID_OF, {"id": ref, "owner": owner})
                row = by_id.mappings().first()
                if row is None:
                    by_name = conn.execute(_WORKSPACE_BY_NAME_OF, {"owner": owner, "name": ref})
                    row = by_name.mappings().first()
        if row is None:
            raise NotFound(f"no workspace {ref!r}", hint="`corral ls` lists workspaces")
        return _from_row(row)

    def list_workspaces(
        self,
        owner: str | None = None,
        states: Iterable[State] | None = None,
        include_destroyed: bool = False,
    ) -> list[WorkspaceRecord]:
        query = select(t.workspaces).order_by(t.workspaces.c.created_at)
        if owner is not None:
            query = query.where(t.workspaces.c.owner == owner)
        if states is not None:
            query = query.where(t.workspaces.c.state.in_([s.value for s in states]))
        elif not include_destroyed:
            query = query.where(t.workspaces.c.state != State.DESTROYED.value)
        with self.engine.connect() as conn:
            return [_from_row(r) for r in conn.execute(query).mappings()]

    def network_views(self) -> list[tuple[str, str, NetworkSpec]]:
        """(id, name, network) of every workspace not destroyed: what the network policy
        needs, without decoding whole records (it is rebuilt at every create and destroy)."""
        with self.engine.connect() as conn:
            return [(row.id, row.name, codecs.network_from_json(row.network))
                    for row in conn.execute(_NETWORK_VIEWS)]  # fmt: skip

    # -- events -----------------------------------------------------------------------

    def insert_event(self, **row: Any) -> int:
        with self._write_lock, self.engine.begin() as conn:
            result = conn.execute(insert(t.events), row)
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def list_events(
        self,
        owner: str | None,
        workspace_id: str | None = None,
        since: datetime | None = None,
        after_id: int | None = None,
        types: list[str] | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        query = select(t.events).order_by(t.events.c.id).limit(limit)
        if owner is not None:
            query = query.where(t.events.c.owner == owner)
        if workspace_id is not None:
            query = query.where(t.events.c.workspace_id == workspace_id)
        if since is not None:
            query = query.where(t.events.c.created_at >= since)
        if after_id is not None:
            query = query.where(t.events.c.id > after_id)
        if types:
            query = query.where(t.events.c.type.in_(types))
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        for row in rows:
            row["created_at"] = _aware(row["created_at"])
        return rows

    # -- api keys ---------------------------------------------------------------------

    def insert_api_key(self, **row: Any) -> None:
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(insert(t.api_keys).values(**row))

    def find_api_key(self, key_hash: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = (
                conn.execute(select(t.api_keys).where(t.api_keys.c.hash == key_hash))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def count_api_keys(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(t.api_keys.c.id)).all())

    def revoke_api_key(self, key_id: str) -> None:
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(
                update(t.api_keys).where(t.api_keys.c.id == key_id).values(revoked_at=utcnow())
            )

    def touch_api_key(self, key_id: str) -> None:
        with self._write_lock, self.engine.begin() as conn:
            conn.execute(
                update(t.api_keys).where(t.api_keys.c.id == key_id).values(last_used_at=utcnow())
            )


def _add_missing_columns(engine: Engine) -> None:
    """Additive schema upgrades: a column added to a table since the database was made is
    added in place (nullable, or with an empty JSON default), so state survives upgrades."""
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in t.metadata.sorted_tables:
            existing = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in existing:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = " NOT NULL DEFAULT '{}'" if isinstance(column.type, JSON) else ""
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'
                                  f"{default}"))  # fmt: skip


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=5000")
    # Deleted rows (wrapped keys, secrets) are overwritten with zeros, not left in free space.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _to_row(ws: WorkspaceRecord) -> dict[str, Any]:
    return {
        "id": ws.id,
        "owner": ws.owner,
        "name": ws.name,
        "name_key": ws.name if ws.state != State.DESTROYED else f"{ws.name}~{ws.id}",
        "image": ws.image,
        "state": ws.state.value,
        "command": ws.command,
        "env": ws.env,
        "cpu": ws.limits.cpu,
        "memory_mib": ws.limits.memory_mib,
        "pids": ws.limits.pids,
        "restart": ws.restart,
        "labels": ws.labels,
        "ttl_seconds": ws.ttl_seconds,
        "expires_at": ws.expires_at,
        "runtime": ws.runtime,
        "restart_count": ws.restart_count,
        "last_exit_code": ws.last_exit_code,
        "last_exit_at": ws.last_exit_at,
        "error": ws.error,
        "extra": ws.extra,
        "lifecycle": dataclasses.asdict(ws.lifecycle),
        "storage": codecs.storage_to_json(ws.storage),
        "secret_env": codecs.secret_env_to_json(ws.secret_env),
        "network": codecs.network_to_json(ws.network),
        "created_at": ws.created_at,
        "updated_at": ws.updated_at,
    }


def _from_row(row: Any) -> WorkspaceRecord:
    return WorkspaceRecord(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        image=row["image"],
        state=State(row["state"]),
        command=row["command"],
        env=row["env"] or {},
        limits=Limits(cpu=row["cpu"], memory_mib=row["memory_mib"], pids=row["pids"]),
        restart=row["restart"],
        labels=row["labels"] or {},
        created_at=_aware(row["created_at"]) or utcnow(),
        updated_at=_aware(row["updated_at"]) or utcnow(),
        ttl_seconds=row["ttl_seconds"],
        expires_at=_aware(row["expires_at"]),
        runtime=row["runtime"],
        restart_count=row["restart_count"] or 0,
        last_exit_code=row["last_exit_code"],
        last_exit_at=_aware(row["last_exit_at"]),
        error=row["error"],
        extra=row["extra"] or {},
        lifecycle=Lifecycle(**(row["lifecycle"] or {})),
        storage=codecs.storage_from_json(row["storage"]),
        secret_env=codecs.secret_env_from_json(row["secret_env"]),
        network=codecs.network_from_json(row["network"]),
    )
