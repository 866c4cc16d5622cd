"""Base images: read-only lower layers of workspace root filesystems.

The `host` image is a skeleton (merged-/usr symlinks, empty mount points, a minimal
generated /etc); at run time the host's /usr and a few /etc entries are bound into it
read-only, which gives a workspace Python and every apt-installed tool with no image build.
Any other image is a directory `images/<name>/rootfs` (e.g. debootstrap output or an
unpacked OCI image).
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from pathlib import Path

from corral.drivers.runtime.base import Mount
from corral.errors import InvalidSpec

HOST_IMAGE = "host"
_HOST_SKELETON_VERSION = "1"

_PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
user:x:1000:1000:user:/home/user:/bin/bash
"""
_GROUP = "root:x:0:\ndaemon:x:1:\nusers:x:100:\nnogroup:x:65534:\nuser:x:1000:\n"
_NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
# Host /etc entries bound read-only: symlink farms and data that tools in /usr expect.
_HOST_ETC_BINDS = ("alternatives", "ssl", "ca-certificates", "ld.so.cache", "localtime",
                   "mime.types", "protocols", "services")  # fmt: skip


class ImageStore:
    def __init__(self, images_dir: Path) -> None:
        self.images_dir = images_dir
        self._build_lock = threading.Lock()

    def names(self) -> list[str]:
        found = {HOST_IMAGE}
        if self.images_dir.is_dir():
            found |= {p.name for p in self.images_dir.iterdir() if (p / "rootfs").is_dir()}
        return sorted(found)

    def lower_dir(self, name: str) -> Path:
        if name == HOST_IMAGE:
            return self._host_skeleton()
        rootfs = self.images_dir / name / "rootfs"
        if not rootfs.is_dir():
            raise InvalidSpec(
                f"unknown image {name!r}", hint=f"available images: {', '.join(self.names())}"
            )
        return rootfs

    def mounts(self, name: str) -> tuple[Mount, ...]:
        if name != HOST_IMAGE:
            return ()
        binds = [Mount("/usr", "/usr")]
        binds += [
            Mount(f"/etc/{entry}", f"/etc/{entry}")
            for entry in _HOST_ETC_BINDS
            if os.path.exists(f"/etc/{entry}")
        ]
        return tuple(binds)

    def _host_skeleton(self) -> Path:
        base = self.images_dir / ".host" / _HOST_SKELETON_VERSION
        root = base / "rootfs"
        if root.is_dir():
            return root
        with self._build_lock:  # the first creates may come all at once
            if not root.is_dir():
                self._build_host_skeleton(base, root)
        return root

    def _build_host_skeleton(self, base: Path, root: Path) -> None:
        staging = base / f"staging-{os.getpid()}-{secrets.token_hex(4)}"
        for directory in ("usr", "etc", "proc", "sys", "dev", "tmp", "run", "root", "home/user",
                          "var/tmp", "var/log", "var/cache", "var/lib", "data", "mnt", "opt",
                          "srv", ".corral"):  # fmt: skip
            (staging / directory).mkdir(parents=True, exist_ok=True)
        for link in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
            if os.path.islink(f"/{link}"):
                (staging / link).symlink_to(os.readlink(f"/{link}"))
            elif os.path.isdir(f"/{link}"):
                (staging / link).mkdir()
        os.chmod(staging / "tmp", 0o1777)
        os.chmod(staging / "var/tmp", 0o1777)
        os.chown(staging / "home/user", 1000, 1000)
        etc = staging / "etc"
        for name, text in (("passwd", _PASSWD), ("group", _GROUP), ("nsswitch.conf", _NSSWITCH),
                           ("hosts", _HOSTS), ("resolv.conf", ""),
                           ("os-release", 'NAME="corral host image"\nID=corral\n')):  # fmt: skip
            (etc / name).write_text(text)
        for entry in _HOST_ETC_BINDS:
            target = etc / entry
            if os.path.isdir(f"/etc/{entry}"):
                target.mkdir(exist_ok=True)
            elif os.path.exists(f"/etc/{entry}"):
                target.touch()
        try:
            staging.rename(root)
        except OSError:  # another process built it first
            shutil.rmtree(staging, ignore_errors=True)
            if not root.is_dir():
                raise
