"""Rows of named volumes and of templates (workspace snapshots)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from corral.engine.spec import TemplateRecord, VolumeRecord
from corral.errors import Conflict, NotFound
from corral.store import tables as t
from corral.store.store import Store, _aware, utcnow


class _Rows:
    table: Table
    kind: str
    hint: str

    def __init__(self, store: Store) -> None:
        self._engine = store.engine
        self._write_lock = store._write_lock

    def _insert(self, row: dict[str, Any]) -> None:
        with self._write_lock, self._engine.begin() as conn:
            try:
                conn.execute(insert(self.table).values(**row))
            except IntegrityError:
                raise Conflict(
                    f"a {self.kind} named {row['name']!r} already exists",
                    hint="pick another name or delete the existing one",
                ) from None

    def _get(self, ref: str, owner: str | None) -> Any:
        """By id, or by name within the owner."""
        c = self.table.c
        with self._engine.connect() as conn:
            query = select(self.table).where(c.id == ref)
            if owner is not None:
                query = query.where(c.owner == owner)
            row = conn.execute(query).mappings().first()
            if row is None and owner is not None:
                query = select(self.table).where(c.owner == owner, c.name == ref)
                row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"no {self.kind} {ref!r}", hint=self.hint)
        return row

    def _list(self, owner: str | None) -> list[Any]:
        query = select(self.table).order_by(self.table.c.created_at)
        if owner is not None:
            query = query.where(self.table.c.owner == owner)
        with self._engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def delete(self, record_id: str) -> None:
        with self._write_lock, self._engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.id == record_id))


class VolumeRows(_Rows):
    table = t.volumes
    kind = "volume"
    hint = "`corral volume ls` lists volumes"

    def insert(self, volume: VolumeRecord) -> None:
        self._insert(
            {
                "id": volume.id,
                "owner": volume.owner,
                "name": volume.name,
                "size_mib": volume.size_mib,
                "created_at": volume.created_at,
            }
        )

    def get(self, ref: str, owner: str | None = None) -> VolumeRecord:
        return _volume(self._get(ref, owner))

    def list(self, owner: str | None = None) -> list[VolumeRecord]:
        return [_volume(row) for row in self._list(owner)]


class TemplateRows(_Rows):
    table = t.templates
    kind = "template"
    hint = "`corral template ls` lists templates"

    def insert(self, template: TemplateRecord) -> None:
        self._insert(
            {
                "id": template.id,
                "owner": template.owner,
                "name": template.name,
                "image": template.image,
                "layers": list(template.layers),
                "disk_mib": template.disk_mib,
                "disk_path": template.disk_path,
                "source": template.source,
                "duration_ms": template.duration_ms,
                "created_at": template.created_at,
            }
        )

    def get(self, ref: str, owner: str | None = None) -> TemplateRecord:
        return _template(self._get(ref, owner))

    def list(self, owner: str | None = None) -> list[TemplateRecord]:
        return [_template(row) for row in self._list(owner)]


def _volume(row: Any) -> VolumeRecord:
    return VolumeRecord(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        size_mib=row["size_mib"],
        created_at=_aware(row["created_at"]) or utcnow(),
    )


def _template(row: Any) -> TemplateRecord:
    return TemplateRecord(
        id=row["id"],
        owner=row["owner"],
        name=row["name"],
        image=row["image"],
        layers=tuple(row["layers"]),
        disk_mib=row["disk_mib"],
        disk_path=row["disk_path"],
        source=row["source"],
        created_at=_aware(row["created_at"]) or utcnow(),
        duration_ms=row["duration_ms"],
    )
