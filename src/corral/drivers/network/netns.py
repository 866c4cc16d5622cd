"""Network namespaces: create one pinned at a path, run code inside one, set its sysctls.

A namespace is a property of a thread, so the daemon enters one only from threads made for
the purpose (short-lived, or one dedicated worker per namespace): its other threads stay in
the host's namespace. Creating a namespace this way (unshare + bind mount) takes ~1 ms,
against ~20 ms through pyroute2's forked helper or ~40 ms with `ip netns add`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from corral.drivers import linux
from corral.errors import RuntimeFailure

T = TypeVar("T")
log = logging.getLogger("corral.network")

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | _IFF_UP, b""))


def enter(path: Path | str) -> None:
    """Move the calling thread into the namespace pinned at `path`."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        linux.setns(fd, linux.CLONE_NEWNET)
    finally:
        os.close(fd)


def unshare_pinned(path: Path) -> None:
    """Move the calling thread into a new namespace, pinned at `path` (loopback up)."""
    linux.unshare(linux.CLONE_NEWNET)
    path.touch()
    linux.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", str(path), None,
                linux.MS_BIND)  # fmt: skip
    bring_loopback_up()


def in_thread(fn: Callable[[], T], name: str = "netns") -> T:
    """Run `fn` in a fresh thread (which may change namespaces freely); return its result."""
    result: list[T] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=work, name=name)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def is_netns(path: Path) -> bool:
    return linux.is_mountpoint(str(path))


def create_netns(path: Path) -> None:
    """Create a network namespace pinned at `path` (an empty file bind-mounted over)."""
    try:
        in_thread(lambda: unshare_pinned(path), "netns-create")
    except OSError as exc:
        remove_netns(path)
        raise RuntimeFailure(f"cannot create a network namespace: {exc}") from exc


def remove_netns(path: Path) -> None:
    with contextlib.suppress(OSError):
        linux.umount(str(path))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def set_sysctl(key: str, value: str | int) -> None:
    """Set a net sysctl (e.g. net/ipv4/ip_forward) of the calling thread's namespace."""
    with open(f"/proc/sys/{key}", "w") as f:
        f.write(str(value))


class Worker:
    """One long-lived thread inside a namespace, running the calls it is given in order."""

    def __init__(self, path: Path, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, name, initializer=enter, initargs=(path,))

    def call(self, fn: Callable[..., T], *args: object) -> T:
        return self._pool.submit(fn, *args).result()

    def submit(self, fn: Callable[..., object], *args: object) -> Future[object]:
        """Run `fn` later, in order; failures are logged, not raised."""
        future = self._pool.submit(fn, *args)
        future.add_done_callback(_log_failure)
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _log_failure(future: Future[object]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("background network task failed: %s", future.exception())
