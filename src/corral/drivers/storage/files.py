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
from typing import BinaryIO

from corral.drivers import linux
from corral.errors import Conflict, InvalidSpec, NotFound

_RESOLVE = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
MAX_PATH = 4096
CHUNK = 1 << 20
# Kernel filesystems whose files the daemon must never open on a workspace's behalf: it would
# read them with the host's privileges (e.g. /proc/kallsyms addresses, /proc/iomem).
FORBIDDEN_FILESYSTEMS = {
    0x9FA0: "proc", 0x62656572: "sysfs", 0x27E0EB: "cgroup", 0x63677270: "cgroup2",
    0x1CD1: "devpts", 0x64626720: "debugfs", 0x74726163: "tracefs", 0x73636673: "securityfs",
    0xCAFE4A11: "bpf", 0x6E736673: "nsfs", 0x42494E4D: "binfmt_misc", 0x50495045: "pipefs",
}  # fmt: skip


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


def write_fully(file: BinaryIO, data: bytes, path: str) -> None:
    """Write all of `data` (a raw file may take it in parts); errors as corral errors."""
    view = memoryview(data)
    while view:
        try:
            written = file.write(view)
        except OSError as exc:
            raise _translate(exc, path) from exc
        view = view[written or 0 :]


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
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidSpec(f"a name in {path[:200]} is too long")
    if exc.errno in (errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):
        return Conflict(f"{path} cannot be opened as a file")
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
    return Conflict(f"cannot access {path}: {exc.strerror}")


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

    @staticmethod
    def _check_filesystem(fd: int, path: str) -> None:
        kind = FORBIDDEN_FILESYSTEMS.get(linux.fstatfs_type(fd))
        if kind is not None:
            raise Conflict(f"{path} is on the kernel's {kind} filesystem; read it from inside "
                           "the workspace with exec")  # fmt: skip

    def _open_regular(self, path: str, flags: int) -> int:
        """Open an existing regular file: pinned with O_PATH, checked, then reopened."""
        pinned = self._open(path, os.O_PATH)
        try:
            st = os.fstat(pinned)
            if stat_mod.S_ISDIR(st.st_mode):
                raise Conflict(f"{path} is a directory")
            if not stat_mod.S_ISREG(st.st_mode):
                raise Conflict(f"{path} is not a regular file")
            self._check_filesystem(pinned, path)
            try:
                return os.open(f"/proc/self/fd/{pinned}", flags | os.O_CLOEXEC | os.O_NOCTTY)
            except OSError as exc:
                raise _translate(exc, path) from exc
        finally:
            os.close(pinned)

    def open_read(self, path: str) -> tuple[BinaryIO, int]:
        """A regular file open for reading, and its size (stream it: it may be huge)."""
        path = normalize(path)
        fd = self._open_regular(path, os.O_RDONLY)
        return os.fdopen(fd, "rb", buffering=0), os.fstat(fd).st_size

    def read(self, path: str, limit: int | None = None) -> bytes:
        file, size = self.open_read(path)
        with file:
            if limit is not None and size > limit:
                raise Conflict(f"{path} is {size} bytes, more than the {limit} this call reads")
            return file.read() if limit is None else file.read(limit)

    def open_write(self, path: str, mode: int | None = None) -> BinaryIO:
        """A regular file created or truncated for writing (parent directories made)."""
        path = normalize(path)
        self.mkdir(posixpath.dirname(path), parents=True)
        try:
            fd = self._open_regular(path, os.O_WRONLY | os.O_TRUNC)
        except NotFound:
            with self._parent(path) as (parent, name):
                self._check_filesystem(parent, path)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                try:
                    fd = os.open(name, flags, 0o644 if mode is None else mode, dir_fd=parent)
                except OSError as exc:
                    if exc.errno == errno.ELOOP:
                        raise Conflict(f"{path} is a symbolic link to a missing file") from None
                    raise _translate(exc, path) from exc
        if mode is not None:
            os.fchmod(fd, mode)
        return os.fdopen(fd, "wb", buffering=0)

    def write(self, path: str, data: bytes, mode: int | None = None) -> FileInfo:
        path = normalize(path)
        with self.open_write(path, mode) as file:
            write_fully(file, data, path)
            return _info(posixpath.basename(path), path, os.fstat(file.fileno()))

    def info(self, file: BinaryIO, path: str) -> FileInfo:
        path = normalize(path)
        return _info(posixpath.basename(path), path, os.fstat(file.fileno()))

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
        try:
            fd = self._open(path, os.O_RDONLY | os.O_DIRECTORY)
        except NotFound:
            os.close(self._open(path, os.O_PATH))  # NotFound again if it really is missing
            raise Conflict(f"{path} is not a directory") from None
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
