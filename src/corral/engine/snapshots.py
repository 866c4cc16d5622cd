"""Snapshots into templates, workspaces from templates, and forks.

- `snapshot`: a workspace's writable layer becomes a read-only template layer (stacked on the
  layers of the template it came from, if any), and its disk's files are copied onto a new
  disk of the template's own. Workspaces created from the template stack their writable
  layer on those layers (nothing copied: overlayfs shares them) and get a disk of their own
  holding a copy of the template's files.
- `fork`: an independent copy of a workspace (writable layer and disk), running.

A running workspace is frozen (cgroup freezer) while it is copied, so the copy is what the
workspace held at one instant, and thawed right after; its state does not change.

Disk copies are copies of *files*, from one encrypted disk into another: every disk keeps its
own key, so erasing one never depends on the others. Layers are copied with reflinks where
the host filesystem has them (`copy_tree`). Both times are measured (`duration_ms`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from corral.drivers.storage.snapshots import TemplateLayers, copy_tree
from corral.engine import secret_env
from corral.engine.disks import template_disk, workspace_disk
from corral.engine.spec import StorageSpec, TemplateRecord, WorkspaceRecord
from corral.engine.states import State
from corral.errors import Conflict, InvalidSpec, NotFound
from corral.store.volumes import TemplateRows

if TYPE_CHECKING:
    from corral.engine.engine import Engine

log = logging.getLogger("corral.snapshots")

Seed = Callable[[WorkspaceRecord], None]
_COPYABLE = (State.RUNNING, State.PAUSED, State.STOPPED)


class Snapshots:
    def __init__(self, engine: Engine, rows: TemplateRows, layers: TemplateLayers) -> None:
        self.engine = engine
        self.rows = rows
        self.layers = layers

    # -- templates --------------------------------------------------------------------------

    def get(self, ref: str, owner: str) -> TemplateRecord:
        return self.rows.get(ref, owner)

    def list(self, owner: str) -> list[TemplateRecord]:
        return self.rows.list(owner)

    def delete(self, ref: str, owner: str) -> TemplateRecord:
        template = self.rows.get(ref, owner)
        with self.engine.volumes.attaching():  # no workspace may start using it meanwhile
            users = [
                ws.name
                for ws in self.engine.store.list_workspaces()
                if ws.storage.template == template.id
            ]
            children = [t.name for t in self.rows.list() if template.id in t.layers[1:]]
            if users or children:
                raise Conflict(
                    f"template {template.name!r} is in use by {', '.join(users + children)}",
                    hint="destroy the workspaces and templates made from it first",
                )
            self.rows.delete(template.id)  # first: a crash now leaves strays, removed later
        self._discard(template.id)
        return template

    def layer_paths(self, ws: WorkspaceRecord) -> tuple[Path, ...]:
        if ws.storage.template is None:
            return ()
        template = self.rows.get(ws.storage.template)
        return tuple(self.layers.path(layer) for layer in template.layers)

    def apply(self, template: TemplateRecord, storage: StorageSpec) -> StorageSpec:
        """A create request's storage, completed from the template it names."""
        disk_mib = storage.disk_mib
        if template.disk_mib is not None:
            if disk_mib is not None and disk_mib < template.disk_mib:
                raise InvalidSpec(
                    f"template {template.name!r} has a {template.disk_mib} MiB "
                    f"disk; disk_mib cannot be smaller"
                )
            disk_mib = disk_mib or template.disk_mib
        return dataclasses.replace(
            storage,
            template=template.id,
            disk_mib=disk_mib,
            disk_path=template.disk_path if template.disk_mib else storage.disk_path,
        )

    def seed_from(self, template: TemplateRecord) -> Seed | None:
        """What fills a new workspace's disk with the template's files (None: no disk)."""
        if template.disk_mib is None:
            return None

        def seed(ws: WorkspaceRecord) -> None:
            with self.engine.locked(f"template:{template.id}"):
                source = self.engine.disks.mount(template_disk(template.id))
                copy_tree(source, self.engine.disks.data_dir(workspace_disk(ws.id)))

        return seed

    def expected_disks(self) -> dict[str, int | None]:
        return {template_disk(t.id): None for t in self.rows.list() if t.disk_mib is not None}

    def remove_strays(self) -> int:
        known = {t.id for t in self.rows.list()}
        strays = [layer for layer in self.layers.layers() if layer not in known]
        for layer in strays:
            self.layers.remove(layer.removesuffix(".partial"))
        return len(strays)

    # -- snapshot and fork ------------------------------------------------------------------

    def snapshot(self, ref: str, owner: str, name: str) -> TemplateRecord:
        started = time.perf_counter()
        source = self.engine.get(ref, owner)
        with contextlib.suppress(NotFound):
            self.rows.get(name, owner)
            raise Conflict(
                f"a template named {name!r} already exists",
                hint="pick another name or delete the existing one",
            )
        from corral.engine.engine import new_id, utcnow  # (a cycle at import time)

        template_id = new_id()
        with self.engine.locked(source.id):
            source = self._copyable(source.id, owner)
            parent = self.rows.get(source.storage.template) if source.storage.template else None
            try:
                with self._frozen(source):
                    self.layers.save(template_id, self.engine.storage.upper_dir(source.id))
                    if source.storage.disk_mib is not None:
                        target = self.engine.disks.ensure(
                            template_disk(template_id), source.storage.disk_mib
                        )
                        copy_tree(self.engine.disks.mount(workspace_disk(source.id)), target)
                template = TemplateRecord(
                    id=template_id,
                    owner=owner,
                    name=name,
                    image=source.image,
                    layers=(template_id, *(parent.layers if parent else ())),
                    disk_mib=source.storage.disk_mib,
                    disk_path=source.storage.disk_path,
                    source=source.id,
                    created_at=utcnow(),
                    duration_ms=round((time.perf_counter() - started) * 1000, 3),
                )
                self.rows.insert(template)
            except BaseException:
                self._discard(template_id)
                raise
        log.info(
            "snapshot of %s into template %s (%s) in %.1f ms",
            source.id,
            template.id,
            name,
            template.duration_ms,
        )
        return template

    def fork(self, ref: str, owner: str, name: str) -> WorkspaceRecord:
        started = time.perf_counter()
        source = self.engine.get(ref, owner)
        with self.engine.locked(source.id):
            source = self._copyable(source.id, owner)
            if any(not a.readonly for a in source.storage.volumes):
                raise Conflict(
                    "a workspace with a volume attached read-write cannot be forked",
                    hint="a volume is read-write to one workspace at a time",
                )

            def seed(fork: WorkspaceRecord) -> None:
                storage = self.engine.storage
                copy_tree(storage.upper_dir(source.id),
                          storage.writable_layer(fork.id, fork.storage.rootfs_mib))  # fmt: skip
                if source.storage.disk_mib is not None:
                    copy_tree(
                        self.engine.disks.mount(workspace_disk(source.id)),
                        self.engine.disks.data_dir(workspace_disk(fork.id)),
                    )

            with self._frozen(source):
                fork = self.engine.create(
                    owner,
                    name,
                    image=source.image,
                    command=source.command,
                    env={**source.env, **secret_env.values(self.engine.keyring, source)},
                    limits=source.limits,
                    ttl_seconds=source.ttl_seconds,
                    restart=source.restart,
                    labels=source.labels,
                    lifecycle=source.lifecycle,
                    storage=source.storage,
                    seed=seed,
                    # Its own address (and API key); the same reach. Links are not copied.
                    network=dataclasses.replace(source.network, ip=None),
                )
        fork.extra["forked_from"] = source.id
        fork.extra["fork_ms"] = round((time.perf_counter() - started) * 1000, 3)
        self.engine.store.save_workspace(fork)
        log.info("forked %s into %s in %s ms", source.id, fork.id, fork.extra["fork_ms"])
        return fork

    # -- helpers ----------------------------------------------------------------------------

    def _copyable(self, workspace_id: str, owner: str) -> WorkspaceRecord:
        ws = self.engine.get(workspace_id, owner)
        if ws.state not in _COPYABLE:
            raise Conflict(
                f"cannot copy a workspace that is {ws.state.value}",
                hint="wait until it is running, paused or stopped",
            )
        return ws

    @contextlib.contextmanager
    def _frozen(self, ws: WorkspaceRecord) -> Iterator[None]:
        """The workspace's processes frozen for the block (if they run), as they were after."""
        if ws.state != State.RUNNING:
            yield
            return
        self.engine.runtime.pause(ws.id)
        try:
            yield
        finally:
            self.engine.runtime.resume(ws.id)

    def _discard(self, template_id: str) -> None:
        self.engine.disks.erase(template_disk(template_id))
        self.layers.remove(template_id)
