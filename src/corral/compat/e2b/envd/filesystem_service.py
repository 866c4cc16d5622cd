"""envd's Filesystem service over Connect: stat, list, make, move and remove paths.

Every operation goes through `ConfinedFiles`, so a path cannot leave the sandbox's root
whatever symlinks the sandbox plants. Directory watches are not implemented (the SDK gets
UNIMPLEMENTED).
"""

from __future__ import annotations

import asyncio
import contextlib
import stat as stat_mod
from collections.abc import Callable
from typing import TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from e2b.envd.filesystem import filesystem_connect
from e2b.envd.filesystem import filesystem_pb as pb
from protobuf.wkt import Timestamp

from corral.compat.e2b.envd.errors import as_connect_errors
from corral.compat.e2b.envd.sandbox import Sandboxes, resolve_path
from corral.drivers.storage.files import ConfinedFiles, FileInfo
from corral.errors import Conflict, InvalidSpec, NotFound

_TYPES = {"file": pb.FileType.FILE, "dir": pb.FileType.DIRECTORY, "symlink": pb.FileType.SYMLINK}
T = TypeVar("T")
_TYPE_BITS = {"file": stat_mod.S_IFREG, "dir": stat_mod.S_IFDIR, "symlink": stat_mod.S_IFLNK}


class Accounts:
    """User and group names of the sandbox (its /etc/passwd and /etc/group), by id."""

    def __init__(self, files: ConfinedFiles) -> None:
        self.users = _names(files, "/etc/passwd")
        self.groups = _names(files, "/etc/group")

    def entry(self, info: FileInfo) -> pb.EntryInfo:
        mode = _TYPE_BITS.get(info.type, 0) | info.mode
        return pb.EntryInfo(
            name=info.name,
            type=_TYPES.get(info.type, pb.FileType.UNSPECIFIED),
            path=info.path,
            size=info.size,
            mode=info.mode & 0o777,
            permissions=stat_mod.filemode(mode),
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


def walk(files: ConfinedFiles, path: str, depth: int) -> list[FileInfo]:
    """The entries below `path`, `depth` levels deep, not following symlinks."""
    entries = []
    for info in files.list(path):
        entries.append(info)
        if depth > 1 and info.type == "dir":
            entries.extend(walk(files, info.path, depth - 1))
    return entries


class FilesystemService(filesystem_connect.Filesystem):
    def __init__(self, sandboxes: Sandboxes) -> None:
        self.sandboxes = sandboxes

    async def _on_files(self, ctx: RequestContext, operation: Callable[[ConfinedFiles], T]) -> T:
        """Run a blocking file operation, off the loop, on the sandbox the request names."""

        def call() -> T:
            return operation(self.sandboxes.files_for(ctx.request_headers))

        with as_connect_errors():
            return await asyncio.to_thread(call)

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
            return pb.ListDirResponse(entries=[accounts.entry(e) for e in walk(files, path, depth)])

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
