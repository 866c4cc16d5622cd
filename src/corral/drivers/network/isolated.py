"""Isolated networking: each workspace gets its own network namespace holding only loopback.

The namespace is made by a short-lived thread that unshares its own network namespace and
bind-mounts it to a file (a namespace is per thread, so the daemon's other threads are not
affected); ~1 ms, against ~20 ms through pyroute2 or ~40 ms with `ip netns add`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
import threading
from pathlib import Path

from corral.drivers import linux
from corral.errors import RuntimeFailure

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def _bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(sock, _SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", flags | _IFF_UP, b""))


def create_netns(path: Path) -> None:
    """Create a network namespace pinned at `path` (an empty file bind-mounted over)."""
    error: list[BaseException] = []

    def work() -> None:
        try:
            linux.unshare(linux.CLONE_NEWNET)
            path.touch()
            linux.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", str(path), None,
                        linux.MS_BIND)  # fmt: skip
            _bring_loopback_up()
        except BaseException as exc:  # reported to the caller's thread
            error.append(exc)

    thread = threading.Thread(target=work, name="netns-create")
    thread.start()
    thread.join()
    if error:
        remove_netns(path)
        raise RuntimeFailure(f"cannot create a network namespace: {error[0]}")


def remove_netns(path: Path) -> None:
    with contextlib.suppress(OSError):
        linux.umount(str(path))
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class IsolatedNetwork:
    def __init__(self, netns_dir: Path) -> None:
        self.netns_dir = netns_dir
        netns_dir.mkdir(parents=True, exist_ok=True)

    def path(self, workspace_id: str) -> Path:
        return self.netns_dir / workspace_id

    def attach(self, workspace_id: str) -> str:
        path = self.path(workspace_id)
        if not linux.is_mountpoint(str(path)):
            create_netns(path)
        return str(path)

    def detach(self, workspace_id: str) -> None:
        remove_netns(self.path(workspace_id))

    def attached(self) -> list[str]:
        return sorted(os.listdir(self.netns_dir)) if self.netns_dir.is_dir() else []
