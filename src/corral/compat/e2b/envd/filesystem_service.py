"""envd's Filesystem service over Connect: stat, list, make, move, remove, watch paths.

Every operation goes through `ConfinedFiles`, so a path cannot leave the sandbox's root
whatever symlinks the sandbox plants. Watches poll (see `watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import stat as stat_mod
import time
from collections.abc import AsyncIterator, Callable
from typing import Literal, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from e2b.envd.filesystem import filesystem_connect
from e2b.envd.filesystem import filesystem_pb as pb
from protobuf import Oneof
from protobuf.wkt import Timestamp

from corral.compat.e2b.envd import tree
from corral.compat.e2b.envd.errors import as_connect_errors
from corral.compat.e2b.envd.sandbox import Sandboxes, keepalive_s, resolve_path
from corral.compat.e2b.envd.watch import Watcher, Watchers, snapshot
from corral.drivers.storage.files import ConfinedFiles, FileInfo
from corral.engine.spec import WorkspaceRecord
from corral.errors import Conflict, InvalidSpec, NotFound

T = TypeVar("T")
WATCH_POLL_S = 0.2
_TYPES = {"file": pb.FileType.FILE, "dir": pb.FileType.DIRECTORY, "symlink": pb.FileType.SYMLINK}
_TYPE_BITS = {"file": stat_mod.S_IFREG, "dir": stat_mod.S_IFDIR, "symlink": stat_mod.S_IFLNK}


class Accounts:
    """User and group names of the sandbox (its /etc/passwd and /etc/group), by id."""

    def __init__(self, files: ConfinedFiles) -> None:
        self.users = _names(files, "/etc/passwd")
        self.groups = _names(files, "/etc/group")

    def entry(self, info: FileInfo) -> pb.EntryInfo:
        return pb.EntryInfo(
            name=info.name,
            type=_TYPES.get(info.type, pb.FileType.UNSPECIFIED),
            path=info.path,
            size=info.size,
            mode=info.mode & 0o777,
            permissions=stat_mod.filemode(_TYPE_BITS.get(info.type, 0) | info.mode),
            owner=self.users.get(info.uid, str(info.uid)),
            group=self.groups.get(info.gid, str(info.gid)),
            modified_time=Timestamp.from_datetime(info.mtime),
            is_symlink=info.type == "symlink",
        )


def _names(files: ConfinedFiles, path: str) -> dict[int, str]:
    try:
        text = files.read(path).decode(errors="replace")
    except (NotFound, Conflict):
        return {}
    names: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[2].isdigit():
            names.setdefault(int(fields[2]), fields[0])
    return names


class FilesystemService(filesystem_connect.Filesystem):
    def __init__(self, sandboxes: Sandboxes) -> None:
        self.sandboxes = sandboxes
        self.watchers = Watchers()

    async def _on_sandbox(
        self, ctx: RequestContext, operation: Callable[[WorkspaceRecord, ConfinedFiles], T]
    ) -> T:
        """Run a blocking operation, off the loop, on the sandbox the request names."""

        def call() -> T:
            ws = self.sandboxes.get(ctx.request_headers)
            return operation(ws, self.sandboxes.files(ws))

        with as_connect_errors():
            return await asyncio.to_thread(call)

    async def _on_files(self, ctx: RequestContext, operation: Callable[[ConfinedFiles], T]) -> T:
        return await self._on_sandbox(ctx, lambda _, files: operation(files))

    async def stat(self, request: pb.StatRequest, ctx: RequestContext) -> pb.StatResponse:
        path = resolve_path(request.path)

        def stat(files: ConfinedFiles) -> pb.StatResponse:
            return pb.StatResponse(entry=Accounts(files).entry(files.stat(path)))

        return await self._on_files(ctx, stat)

    async def list_dir(self, request: pb.ListDirRequest, ctx: RequestContext) -> pb.ListDirResponse:
        path, depth = resolve_path(request.path), request.depth or 1

        def list_dir(files: ConfinedFiles) -> pb.ListDirResponse:
            if files.stat(path).type == "file":
                raise InvalidSpec(f"path is not a directory: {path}")
            accounts = Accounts(files)
            entries = [accounts.entry(info) for info in tree.walk(files, path, depth)]
            return pb.ListDirResponse(entries=entries)

        return await self._on_files(ctx, list_dir)

    async def make_dir(self, request: pb.MakeDirRequest, ctx: RequestContext) -> pb.MakeDirResponse:
        path = resolve_path(request.path)

        def make_dir(files: ConfinedFiles) -> pb.MakeDirResponse:
            try:
                existing = files.stat(path)
            except NotFound:
                return pb.MakeDirResponse(entry=Accounts(files).entry(files.mkdir(path)))
            if existing.type == "dir":  # the SDK answers False for this code
                raise ConnectError(Code.ALREADY_EXISTS, f"directory already exists: {path}")
            raise InvalidSpec(f"path already exists but it is not a directory: {path}")

        return await self._on_files(ctx, make_dir)

    async def move(self, request: pb.MoveRequest, ctx: RequestContext) -> pb.MoveResponse:
        source, destination = resolve_path(request.source), resolve_path(request.destination)

        def move(files: ConfinedFiles) -> pb.MoveResponse:
            return pb.MoveResponse(entry=Accounts(files).entry(files.move(source, destination)))

        return await self._on_files(ctx, move)

    async def remove(self, request: pb.RemoveRequest, ctx: RequestContext) -> pb.RemoveResponse:
        path = resolve_path(request.path)

        def remove(files: ConfinedFiles) -> pb.RemoveResponse:
            with contextlib.suppress(NotFound):  # like envd's os.RemoveAll
                files.remove(path, recursive=True)
            return pb.RemoveResponse()

        return await self._on_files(ctx, remove)

    # -- watches ---------------------------------------------------------------------------

    async def create_watcher(
        self, request: pb.CreateWatcherRequest, ctx: RequestContext
    ) -> pb.CreateWatcherResponse:
        path, recursive = resolve_path(request.path), request.recursive

        def create(ws: WorkspaceRecord, files: ConfinedFiles) -> str:
            watcher = Watcher(ws.id, path, recursive, snapshot(files, path, recursive))
            return self.watchers.add(watcher)

        return pb.CreateWatcherResponse(watcher_id=await self._on_sandbox(ctx, create))

    async def get_watcher_events(
        self, request: pb.GetWatcherEventsRequest, ctx: RequestContext
    ) -> pb.GetWatcherEventsResponse:
        def poll(ws: WorkspaceRecord, files: ConfinedFiles) -> list[pb.FilesystemEvent]:
            return self.watchers.get(ws.id, request.watcher_id).poll(files)

        return pb.GetWatcherEventsResponse(events=await self._on_sandbox(ctx, poll))

    async def remove_watcher(
        self, request: pb.RemoveWatcherRequest, ctx: RequestContext
    ) -> pb.RemoveWatcherResponse:
        def remove(ws: WorkspaceRecord, _: ConfinedFiles) -> None:
            self.watchers.remove(ws.id, request.watcher_id)

        await self._on_sandbox(ctx, remove)
        return pb.RemoveWatcherResponse()

    async def watch_dir(
        self, request: pb.WatchDirRequest, ctx: RequestContext
    ) -> AsyncIterator[pb.WatchDirResponse]:
        """Events as they are seen, until the call's deadline (the SDK's `timeout`)."""
        path, recursive = resolve_path(request.path), request.recursive

        def start(ws: WorkspaceRecord, files: ConfinedFiles) -> Watcher:
            return Watcher(ws.id, path, recursive, snapshot(files, path, recursive))

        watcher = await self._on_sandbox(ctx, start)
        started: Oneof[Literal["start"], pb.WatchDirResponse.StartEvent]
        started = Oneof("start", pb.WatchDirResponse.StartEvent())
        yield pb.WatchDirResponse(event=started)
        quiet_since = time.monotonic()
        while ctx.timeout_ms is None or ctx.timeout_ms > 0:
            await asyncio.sleep(WATCH_POLL_S)
            for event in await self._on_files(ctx, watcher.poll):
                change: Oneof[Literal["filesystem"], pb.FilesystemEvent]
                change = Oneof("filesystem", event)
                yield pb.WatchDirResponse(event=change)
                quiet_since = time.monotonic()
            if time.monotonic() - quiet_since > keepalive_s(ctx.request_headers):
                keepalive: Oneof[Literal["keepalive"], pb.WatchDirResponse.KeepAlive]
                keepalive = Oneof("keepalive", pb.WatchDirResponse.KeepAlive())
                yield pb.WatchDirResponse(event=keepalive)
                quiet_since = time.monotonic()
