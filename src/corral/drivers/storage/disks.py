"""Encrypted ext4 disks (`corral.drivers.storage.base.Disks`): image file, loop, fscrypt.

Layout, keyed by disk id:
- `<images_dir>/<id>.img`: a sparse ext4 image made with `mkfs.ext4 -O encrypt`; its size
  is the disk's hard quota (writes past it fail with ENOSPC inside, nothing else notices).
- `<mounts_dir>/<id>/`: where it is mounted (nosuid, nodev, discard: freed blocks are
  punched out of the sparse image), through an autoclear loop device.
- `<mounts_dir>/<id>/data/`: the only directory handed out, encrypted with an fscrypt v2
  policy under the disk's 64-byte key. Everything written there reaches the image as
  ciphertext; the unencrypted root of the filesystem holds nothing but `lost+found`.

dm-crypt is not available on these hosts (no device-mapper); fscrypt is per directory, which
is why the data directory, not the filesystem root, is what a workspace gets.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from corral.drivers import linux
from corral.drivers.storage import fscrypt, loop
from corral.errors import RuntimeFailure

log = logging.getLogger("corral.disks")

_PARTIAL = ".partial"
_MKFS = [
    "mkfs.ext4",
    "-q",
    "-F",
    "-b",
    "4096",
    "-m",
    "0",
    "-L",
    "corral",
    "-E",
    "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
]
_MOUNT_FLAGS = linux.MS_NOSUID | linux.MS_NODEV
_MOUNT_OPTIONS = "discard"
_UMOUNT_ATTEMPTS = 50


class EncryptedDisks:
    def __init__(self, images_dir: Path, mounts_dir: Path) -> None:
        self.images_dir = images_dir
        self.mounts_dir = mounts_dir
        images_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        mounts_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def _locked(self, disk_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(disk_id, threading.Lock())
        with lock:
            yield

    def image_path(self, disk_id: str) -> Path:
        return self.images_dir / f"{disk_id}.img"

    def mount_point(self, disk_id: str) -> Path:
        return self.mounts_dir / disk_id

    def data_dir(self, disk_id: str) -> Path:
        return self.mount_point(disk_id) / "data"

    def exists(self, disk_id: str) -> bool:
        return self.image_path(disk_id).exists()

    # -- contract -------------------------------------------------------------------------

    def create(self, disk_id: str, size_mib: int, key: bytes) -> Path:
        with self._locked(disk_id):
            image = self.image_path(disk_id)
            if not image.exists():
                make_filesystem(image, size_mib, encrypt=True)
            return self._mount(disk_id, key)

    def mount(self, disk_id: str, key: bytes) -> Path:
        with self._locked(disk_id):
            if not self.image_path(disk_id).exists():
                raise RuntimeFailure(
                    f"disk {disk_id} has no image",
                    hint="it was erased, or the state dir is incomplete",
                )
            return self._mount(disk_id, key)

    def unmount(self, disk_id: str) -> None:
        with self._locked(disk_id):
            self._unmount(disk_id)

    def erase(self, disk_id: str) -> None:
        with self._locked(disk_id):
            self._unmount(disk_id)
            image = self.image_path(disk_id)
            if not loop.release(image):
                log.warning(
                    "disk %s: its loop device is still held; it goes when released", disk_id
                )
            for path in (image, image.with_name(image.name + _PARTIAL)):
                path.unlink(missing_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self.mount_point(disk_id).rmdir()

    def disks(self) -> list[str]:
        return sorted(p.name.removesuffix(".img") for p in self.images_dir.glob("*.img"))

    def mounted(self) -> list[str]:
        points = linux.mountpoints_under(str(self.mounts_dir))
        prefix = str(self.mounts_dir) + "/"
        return sorted(
            {p.removeprefix(prefix).split("/")[0] for p in points if p.startswith(prefix)}
        )

    def leftovers(self) -> list[str]:
        found = [str(p) for p in self.images_dir.glob(f"*.img{_PARTIAL}")]
        mine = str(self.images_dir) + "/"
        for device, backing in loop.backing_files().items():
            if backing.startswith(mine) and not Path(backing).exists():
                found.append(device)
        return found

    def remove_leftover(self, leftover: str) -> None:
        if leftover.startswith("/dev/loop"):
            loop.detach(leftover)
        else:
            Path(leftover).unlink(missing_ok=True)

    # -- steps ----------------------------------------------------------------------------

    def _mount(self, disk_id: str, key: bytes) -> Path:
        point = self.mount_point(disk_id)
        point.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not linux.is_mountpoint(str(point)):
            try:
                with loop.attached(self.image_path(disk_id)) as device:
                    linux.mount(device, str(point), "ext4", _MOUNT_FLAGS, _MOUNT_OPTIONS)
            except OSError as exc:
                raise RuntimeFailure(f"cannot mount disk {disk_id}: {exc.strerror}") from exc
        try:
            identifier = fscrypt.add_key(str(point), key)
            data = point / "data"
            if not data.exists():  # a new filesystem: make its encrypted directory
                data.mkdir(mode=0o755)
                fscrypt.set_policy(str(data), identifier)
            elif fscrypt.policy_identifier(str(data)) != identifier:
                raise RuntimeFailure(
                    f"disk {disk_id} is not encrypted with its key",
                    hint="refusing to hand out its data directory",
                )
        except BaseException:
            self._unmount(disk_id)  # never leave a half-set-up disk mounted
            raise
        return data

    def _unmount(self, disk_id: str) -> None:
        point = self.mount_point(disk_id)
        if not linux.is_mountpoint(str(point)):
            return
        identifier = _identifier(point / "data")
        if identifier is not None:
            with contextlib.suppress(OSError):
                if fscrypt.remove_key(str(point), identifier).files_busy:
                    log.warning(
                        "disk %s: files still open; their key goes when they close", disk_id
                    )
        unmount_point(point)


def make_filesystem(image: Path, size_mib: int, *, encrypt: bool) -> None:
    """Make a sparse ext4 image under a temporary name, so a crash leaves no half-made disk;
    `encrypt`: with fscrypt support (keys are set per directory afterwards)."""
    partial = image.with_name(image.name + _PARTIAL)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.ftruncate(fd, size_mib * 1024 * 1024)
    finally:
        os.close(fd)
    proc = subprocess.run(
        [*_MKFS, *(["-O", "encrypt"] if encrypt else []), str(partial)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        message = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeFailure(f"mkfs.ext4 failed: {message[0]}")
    os.rename(partial, image)


def _identifier(data_dir: Path) -> bytes | None:
    try:
        return fscrypt.policy_identifier(str(data_dir))
    except OSError:
        return None


def unmount_point(point: Path) -> None:
    """Unmount for real (so the loop device autoclears); lazily only if it stays busy."""
    for _ in range(_UMOUNT_ATTEMPTS):
        try:
            linux.umount(str(point), 0)
            return
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # not mounted (any more)
                return
            if exc.errno != errno.EBUSY:
                raise RuntimeFailure(f"cannot unmount {point}: {exc.strerror}") from exc
        time.sleep(0.02)
    log.warning("%s stayed busy; detaching it lazily", point)
    linux.umount(str(point), linux.MNT_DETACH)
