"""File access inside a workspace, confined to its root whatever it plants there.

Every path is resolved by the kernel with openat2(RESOLVE_IN_ROOT): `..`, absolute symlinks
and symlinks to `..` all resolve inside the workspace's root, as they would for a process
chrooted there, and magic links (/proc/self/root...) are refused. The last component of a
path is then acted on relative to its parent's descriptor, never by a host path string.
"""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import shutil
import stat as stat_mod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from corral.drivers import linux
from corral.errors import Conflict, InvalidSpec, NotFound

_RESOLVE = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
MAX_PATH = 4096


@dataclass(frozen=True)
class FileInfo:
    name: str
    path: str
    type: str
    size: int
    mode: int
    mtime: datetime
    uid: int = 0
    gid: int = 0


def normalize(path: str) -> str:
    if not path or "\x00" in path or len(path) > MAX_PATH:
        raise InvalidSpec("path must be a non-empty path without NUL bytes")
    if not path.startswith("/"):
        raise InvalidSpec(f"path {path!r} must be absolute", hint="start it with /")
    return posixpath.normpath(path).replace("//", "/")


def _kind(mode: int) -> str:
    if stat_mod.S_ISREG(mode):
        return "file"
    if stat_mod.S_ISDIR(mode):
        return "dir"
    if stat_mod.S_ISLNK(mode):
        return "symlink"
    return "other"


def _info(name: str, path: str, st: os.stat_result) -> FileInfo:
    return FileInfo(name, path, _kind(st.st_mode), st.st_size, stat_mod.S_IMODE(st.st_mode),
                    datetime.fromtimestamp(st.st_mtime, UTC), st.st_uid, st.st_gid)  # fmt: skip


def _translate(exc: OSError, path: str) -> Exception:
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return NotFound(f"no such file or directory: {path}")
    if exc.errno == errno.EISDIR:
        return Conflict(f"{path} is a directory")
    if exc.errno == errno.ENOTEMPTY:
        return Conflict(f"directory {path} is not empty", hint="pass recursive=true")
    if exc.errno == errno.EEXIST:
        return Conflict(f"{path} already exists")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Conflict(f"{path} is not writable: {exc.strerror}")
    if exc.errno == errno.ENOSPC:
        return Conflict(f"no space left on the workspace disk writing {path}")
    if exc.errno == errno.ELOOP:
        return InvalidSpec(f"too many levels of symbolic links in {path}")
    if exc.errno == errno.EXDEV:
        return InvalidSpec(f"{path} crosses out of the workspace")
    return exc


class ConfinedFiles:
    """Files of one workspace, whose root (as its processes see it) is the host path `root`."""

    def __init__(self, root: str) -> None:
        self.root = root

    @contextlib.contextmanager
    def _root_fd(self) -> Iterator[int]:
        try:
            fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise Conflict("the workspace's filesystem is not reachable right now") from exc
        try:
            yield fd
        finally:
            os.close(fd)

    def _open(self, path: str, flags: int, mode: int = 0) -> int:
        with self._root_fd() as root:
            try:
                return linux.openat2(root, path.lstrip("/") or ".", flags, mode, _RESOLVE)
            except OSError as exc:
                raise _translate(exc, path) from exc

    @contextlib.contextmanager
    def _parent(self, path: str) -> Iterator[tuple[int, str]]:
        """The descriptor of `path`'s parent directory and its last component."""
        path = normalize(path)
        if path == "/":
            raise InvalidSpec("this operation needs a path below /")
        parent, name = posixpath.split(path)
        fd = self._open(parent, os.O_PATH | os.O_DIRECTORY)
        try:
            yield fd, name
        finally:
            os.close(fd)

    def read(self, path: str) -> bytes:
        path = normalize(path)
        fd = self._open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                raise Conflict(f"{path} is not a regular file")
            with os.fdopen(os.dup(fd), "rb") as f:
                return f.read()
        finally:
            os.close(fd)

    def write(self, path: str, data: bytes, mode: int | None = None) -> FileInfo:
        path = normalize(path)
        self.mkdir(posixpath.dirname(path), parents=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOCTTY | os.O_NONBLOCK
        fd = self._open(path, flags, 0o644 if mode is None else mode)
        try:
            if not stat_mod.S_ISREG(os.fstat(fd).st_mode):
                raise Conflict(f"{path} is not a regular file")
            if mode is not None:
                os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                try:
                    written = os.write(fd, view)
                except OSError as exc:
                    raise _translate(exc, path) from exc
                view = view[written:]
            return _info(posixpath.basename(path), path, os.fstat(fd))
        finally:
            os.close(fd)

    def stat(self, path: str) -> FileInfo:
        path = normalize(path)
        if path == "/":
            fd = self._open("/", os.O_PATH)
            try:
                return _info("/", "/", os.fstat(fd))
            finally:
                os.close(fd)
        with self._parent(path) as (parent, name):
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except OSError as exc:
                raise _translate(exc, path) from exc
        return _info(name, path, st)

    def list(self, path: str) -> list[FileInfo]:
        path = normalize(path)
        fd = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            entries = []
            for name in sorted(os.listdir(fd)):
                with contextlib.suppress(FileNotFoundError):
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    entries.append(_info(name, posixpath.join(path, name), st))
            return entries
        finally:
            os.close(fd)

    def mkdir(self, path: str, parents: bool = True, mode: int = 0o755) -> FileInfo:
        path = normalize(path)
        if path == "/":
            return self.stat("/")
        if parents:
            parent = posixpath.dirname(path)
            if parent != "/":
                self.mkdir(parent, parents=True, mode=mode)
        with self._parent(path) as (fd, name):
            try:
                os.mkdir(name, mode, dir_fd=fd)
            except FileExistsError:
                if not parents:
                    raise Conflict(f"{path} already exists") from None
                # Possibly a symlink: resolve it confined, like any other path.
                try:
                    os.close(self._open(path, os.O_PATH | os.O_DIRECTORY))
                except NotFound:
                    raise Conflict(f"{path} exists and is not a directory") from None
            except OSError as exc:
                raise _translate(exc, path) from exc
        return self.stat(path)

    def move(self, source: str, destination: str) -> FileInfo:
        """Rename `source` to `destination` (replacing a file there), making its parents."""
        destination = normalize(destination)
        self.mkdir(posixpath.dirname(destination), parents=True)
        with self._parent(source) as (src_fd, src_name), \
                self._parent(destination) as (dst_fd, dst_name):  # fmt: skip
            try:
                os.rename(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
            except OSError as exc:
                raise _translate(exc, normalize(source)) from exc
        return self.stat(destination)

    def remove(self, path: str, recursive: bool = False) -> None:
        with self._parent(path) as (fd, name):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if not stat_mod.S_ISDIR(st.st_mode):
                    os.unlink(name, dir_fd=fd)
                elif recursive:
                    # rmtree with dir_fd never follows symlinks out of the tree.
                    shutil.rmtree(name, dir_fd=fd)
                else:
                    os.rmdir(name, dir_fd=fd)
            except OSError as exc:
                raise _translate(exc, normalize(path)) from exc
