"""Wrapped keys and tenant secrets: the rows whose deletion must leave nothing behind.

SQLite runs with `secure_delete=ON` (see `store._sqlite_pragmas`), so a deleted row is
overwritten with zeros in its page. In WAL mode older images of that page still sit in the
write-ahead log until it is checkpointed, so every deletion here ends with a
`wal_checkpoint(TRUNCATE)`: the log is copied back and cut to zero bytes. (On PostgreSQL,
dead tuples stay until VACUUM; run it after erasing if that matters to you.)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from corral.store import tables as t
from corral.store.store import Store, _aware, utcnow

log = logging.getLogger("corral.store")

_CHECKPOINT_ATTEMPTS = 100


class KeyRows:
    """`corral.secrets.keyring.KeyStore` and the tenant secret rows, on the store's database."""

    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._write_lock = store._write_lock
        self._sqlite = store.url.startswith("sqlite")

    # -- wrapped keys -----------------------------------------------------------------------

    def get_wrapped_key(self, key_id: str) -> bytes | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(t.keys.c.wrapped).where(t.keys.c.key_id == key_id)).first()
        return bytes(row[0]) if row else None

    def put_wrapped_key(self, key_id: str, wrapped: bytes, master_check: str) -> None:
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(
                insert(t.keys).values(
                    key_id=key_id, wrapped=wrapped, master_check=master_check, created_at=utcnow()
                )
            )

    def delete_wrapped_key(self, key_id: str) -> bool:
        with self._write_lock:
            with self._engine.begin() as conn:
                deleted = conn.execute(delete(t.keys).where(t.keys.c.key_id == key_id)).rowcount
            if deleted:
                self._purge()
        return bool(deleted)

    def wrapped_key_ids(self) -> list[str]:
        with self._engine.connect() as conn:
            return [r[0] for r in conn.execute(select(t.keys.c.key_id).order_by(t.keys.c.key_id))]

    def master_checks(self) -> set[str]:
        with self._engine.connect() as conn:
            return {r[0] for r in conn.execute(select(t.keys.c.master_check).distinct())}

    def rewrap_keys(self, rewrap: Callable[[str, bytes], bytes], master_check: str) -> int:
        with self._write_lock:
            with self._engine.begin() as conn:
                rows = conn.execute(select(t.keys.c.key_id, t.keys.c.wrapped)).all()
                for key_id, wrapped in rows:
                    conn.execute(
                        update(t.keys)
                        .where(t.keys.c.key_id == key_id)
                        .values(wrapped=rewrap(key_id, bytes(wrapped)), master_check=master_check)
                    )
            self._purge()  # old wraps: useless without the old key, but leave none behind
        return len(rows)

    # -- tenant secrets ---------------------------------------------------------------------

    def put_secret(self, owner: str, name: str, sealed: bytes) -> tuple[datetime, datetime]:
        now = utcnow()
        with self._write_lock:
            with self._engine.begin() as conn:
                key = (t.secrets.c.owner == owner) & (t.secrets.c.name == name)
                created = conn.execute(select(t.secrets.c.created_at).where(key)).scalar()
                if created is None:
                    created = now
                    conn.execute(
                        insert(t.secrets).values(
                            owner=owner, name=name, sealed=sealed, created_at=now, updated_at=now
                        )
                    )
                else:
                    conn.execute(update(t.secrets).where(key).values(sealed=sealed, updated_at=now))
            self._purge()  # the previous value's page images
        return _aware(created) or now, now

    def get_secret(self, owner: str, name: str) -> bytes | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(t.secrets.c.sealed).where(
                    (t.secrets.c.owner == owner) & (t.secrets.c.name == name)
                )
            ).first()
        return bytes(row[0]) if row else None

    def list_secrets(self, owner: str) -> list[tuple[str, datetime, datetime]]:
        query = (
            select(t.secrets.c.name, t.secrets.c.created_at, t.secrets.c.updated_at)
            .where(t.secrets.c.owner == owner)
            .order_by(t.secrets.c.name)
        )
        with self._engine.connect() as conn:
            return [(name, _aware(c) or c, _aware(u) or u) for name, c, u in conn.execute(query)]

    def delete_secret(self, owner: str, name: str) -> bool:
        with self._write_lock:
            with self._engine.begin() as conn:
                deleted = conn.execute(
                    delete(t.secrets).where(
                        (t.secrets.c.owner == owner) & (t.secrets.c.name == name)
                    )
                ).rowcount
            if deleted:
                self._purge()
        return bool(deleted)

    # -- leaving nothing behind ---------------------------------------------------------------

    def _purge(self) -> None:
        """Copy the write-ahead log back and truncate it, so no old page image survives."""
        if not self._sqlite:
            return
        for _ in range(_CHECKPOINT_ATTEMPTS):
            with self._engine.connect() as conn:
                busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()[0]
            if not busy:
                return
            time.sleep(0.01)  # a reader is still on an old snapshot
        log.warning("could not truncate the database's write-ahead log: readers stayed busy")
