"""Directory watches, by polling: a snapshot of the tree, compared at each look.

envd watches with inotify; corral compares snapshots taken through `ConfinedFiles`, which
keeps every look confined to the sandbox's root and needs nothing kept in the kernel. What
it cannot see: an entry created and removed between two looks, several writes between two
looks (one WRITE), a rename (REMOVE of the old name and CREATE of the new).
"""

from __future__ import annotations

import posixpath
import secrets
import threading
from dataclasses import dataclass

from e2b.envd.filesystem import filesystem_pb as pb

from corral.compat.e2b.envd.tree import walk
from corral.drivers.storage.files import ConfinedFiles
from corral.errors import InvalidSpec, NotFound

# A recursive watch looks this deep; a watch of one directory, one level.
RECURSIVE_DEPTH = 64
MAX_WATCHERS = 1024

# Relative path -> what a change shows in: (type, size, mode, mtime).
Snapshot = dict[str, tuple[str, int, int, float]]


def snapshot(files: ConfinedFiles, root: str, recursive: bool) -> Snapshot:
    if files.stat(root).type != "dir":
        raise InvalidSpec(f"path is not a directory: {root}")
    seen: Snapshot = {}
    for info in walk(files, root, RECURSIVE_DEPTH if recursive else 1):
        name = posixpath.relpath(info.path, root)
        seen[name] = (info.type, info.size, info.mode, info.mtime.timestamp())
    return seen


def changes(before: Snapshot, after: Snapshot) -> list[pb.FilesystemEvent]:
    """envd's events for what changed between two snapshots, in path order."""
    events = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None:
            kind = pb.EventType.CREATE
        elif new is None:
            kind = pb.EventType.REMOVE
        elif old[0] != new[0]:
            events.append(pb.FilesystemEvent(name=name, type=pb.EventType.REMOVE))
            kind = pb.EventType.CREATE
        elif new[0] != "dir" and (old[1], old[3]) != (new[1], new[3]):
            kind = pb.EventType.WRITE  # (a directory changes with its entries: no event)
        elif old[2] != new[2]:
            kind = pb.EventType.CHMOD
        else:
            continue
        events.append(pb.FilesystemEvent(name=name, type=kind))
    return events


@dataclass
class Watcher:
    sandbox_id: str
    root: str
    recursive: bool
    seen: Snapshot

    def poll(self, files: ConfinedFiles) -> list[pb.FilesystemEvent]:
        now = snapshot(files, self.root, self.recursive)
        events, self.seen = changes(self.seen, now), now
        return events


class Watchers:
    """The watchers of the polling API (CreateWatcher, GetWatcherEvents), by id; used from
    worker threads."""

    def __init__(self) -> None:
        self._by_id: dict[str, Watcher] = {}
        self._lock = threading.Lock()

    def add(self, watcher: Watcher) -> str:
        watcher_id = secrets.token_hex(8)
        with self._lock:
            while len(self._by_id) >= MAX_WATCHERS:  # forgotten ones: drop the oldest
                del self._by_id[next(iter(self._by_id))]
            self._by_id[watcher_id] = watcher
        return watcher_id

    def get(self, sandbox_id: str, watcher_id: str) -> Watcher:
        watcher = self._by_id.get(watcher_id)
        if watcher is None or watcher.sandbox_id != sandbox_id:
            raise NotFound(f"watcher {watcher_id} not found")
        return watcher

    def remove(self, sandbox_id: str, watcher_id: str) -> None:
        self.get(sandbox_id, watcher_id)
        with self._lock:
            self._by_id.pop(watcher_id, None)
