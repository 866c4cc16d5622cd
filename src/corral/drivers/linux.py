"""Linux system calls that Python's `os` module does not expose (via ctypes).

Every wrapper raises OSError with the real errno, like the os module does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MNT_DETACH = 0x2
CLONE_NEWNET = 0x40000000

# openat2(2) resolve flags
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

_SYS_OPENAT2 = {"x86_64": 437, "aarch64": 437}.get(platform.machine(), 437)


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        )
    )


def umount(target: str, flags: int = MNT_DETACH) -> None:
    _check(_libc.umount2(target.encode(), flags))


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags))


def setns(fd: int, nstype: int) -> None:
    """Move the calling thread into the namespace `fd` refers to (os.setns needs 3.12)."""
    _check(_libc.setns(fd, nstype))


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc.syscall.restype = ctypes.c_long


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _libc.syscall(
        ctypes.c_long(_SYS_OPENAT2),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(path.encode()),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    return _check(int(fd))


def is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


def mountpoints_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == prefix or p.startswith(prefix.rstrip("/") + "/")]


PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper() -> None:
    """Orphaned descendants (container inits after `run --detach`) get re-parented to us."""
    _check(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))


_libc.fstatfs.argtypes = [ctypes.c_int, ctypes.c_void_p]


def fstatfs_type(fd: int) -> int:
    """The filesystem magic number (statfs.f_type) of the file open at `fd`."""
    buf = ctypes.create_string_buffer(256)  # struct statfs is 120 bytes on 64-bit Linux
    _check(_libc.fstatfs(fd, buf))
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF


CLONE_NEWUTS = 0x04000000


def set_hostname_of(pid: int, hostname: str) -> None:
    """Set the hostname in the UTS namespace of process `pid` (from a short-lived thread,
    since a namespace is per thread: the daemon's other threads are not affected)."""
    error: list[BaseException] = []

    def work() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/uts", os.O_RDONLY | os.O_CLOEXEC)
            try:
                _check(_libc.setns(fd, CLONE_NEWUTS))
            finally:
                os.close(fd)
            name = hostname.encode()
            _check(_libc.sethostname(name, len(name)))
        except BaseException as exc:
            error.append(exc)

    import threading

    thread = threading.Thread(target=work, name="set-hostname")
    thread.start()
    thread.join()
    if error:
        raise error[0]
