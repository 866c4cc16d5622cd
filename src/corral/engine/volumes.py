"""Named volumes: encrypted disks of their own, attached to workspaces, outliving them.

A volume is attached when a workspace is created (`volumes=[{"name", "path", "readonly"}]`)
and stays attached until that workspace is destroyed. At most one live workspace holds it
read-write; any number hold it read-only. All of them bind the same mounted filesystem, so
readers see the writer's changes at once and no two kernels ever write one image.
"""

from __future__ import annotations

import builtins
import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

from corral.drivers.runtime.base import Mount
from corral.engine.disks import KeyedDisks, volume_disk
from corral.engine.spec import VolumeAttachment, VolumeRecord, WorkspaceRecord
from corral.errors import Conflict, InvalidSpec
from corral.store.volumes import VolumeRows


class Volumes:
    def __init__(
        self,
        rows: VolumeRows,
        disks: KeyedDisks,
        workspaces: Callable[[], list[WorkspaceRecord]],
        new_id: Callable[[], str],
        now: Callable[[], datetime],
    ) -> None:
        self.rows = rows
        self.disks = disks
        self._workspaces = workspaces  # every live workspace
        self._new_id = new_id
        self._now = now
        # Held from checking an attachment to recording it, and while deleting a volume.
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def attaching(self) -> Iterator[None]:
        with self._lock:
            yield

    def create(self, owner: str, name: str, size_mib: int) -> VolumeRecord:
        volume = VolumeRecord(self._new_id(), owner, name, size_mib, self._now())
        self.rows.insert(volume)
        try:
            self.disks.ensure(volume_disk(volume.id), size_mib)
        except BaseException:
            self.rows.delete(volume.id)
            self.disks.erase(volume_disk(volume.id))
            raise
        return volume

    def get(self, ref: str, owner: str) -> VolumeRecord:
        return self.rows.get(ref, owner)

    def list(self, owner: str) -> list[VolumeRecord]:
        return self.rows.list(owner)

    def users(self, volume_id: str) -> builtins.list[tuple[WorkspaceRecord, VolumeAttachment]]:
        return [
            (ws, a)
            for ws in self._workspaces()
            for a in ws.storage.volumes
            if a.volume == volume_id
        ]

    def delete(self, ref: str, owner: str) -> VolumeRecord:
        """Crypto-erase the volume; refused while any workspace has it attached."""
        with self._lock:
            volume = self.rows.get(ref, owner)
            if users := self.users(volume.id):
                names = ", ".join(sorted({ws.name for ws, _ in users}))
                raise Conflict(
                    f"volume {volume.name!r} is attached to {names}",
                    hint="destroy those workspaces first",
                )
            self.rows.delete(volume.id)  # first: a crash now leaves a stray disk, erased later
            self.disks.erase(volume_disk(volume.id))
        return volume

    def resolve(
        self, owner: str, requests: tuple[VolumeAttachment, ...]
    ) -> tuple[VolumeAttachment, ...]:
        """Requests by name or id -> attachments by id; refused when one cannot be had.

        Call under `attaching()`, and record the workspace before leaving it.
        """
        resolved: builtins.list[VolumeAttachment] = []
        for request in requests:
            volume = self.rows.get(request.volume, owner)
            if any(a.volume == volume.id for a in resolved):
                raise InvalidSpec(f"volume {volume.name!r} is attached twice")
            if not request.readonly:
                writers = [ws.name for ws, a in self.users(volume.id) if not a.readonly]
                if writers:
                    raise Conflict(
                        f"volume {volume.name!r} is attached read-write to {writers[0]}",
                        hint="attach it read-only, or destroy that workspace first",
                    )
            resolved.append(VolumeAttachment(volume.id, request.path, request.readonly))
        return tuple(resolved)

    def mounts(self, ws: WorkspaceRecord) -> builtins.list[Mount]:
        return [
            Mount(str(self.disks.mount(volume_disk(a.volume))), a.path, readonly=a.readonly)
            for a in ws.storage.volumes
        ]

    def expected_disks(self) -> dict[str, int | None]:
        return {volume_disk(v.id): v.size_mib for v in self.rows.list()}
