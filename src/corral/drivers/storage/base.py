"""The storage contracts: root filesystems (`Storage`) and encrypted disks (`Disks`).

`Storage` gives each workspace a writable root filesystem over a read-only image (and the
read-only layers of the template it came from). `prepare` is idempotent and keyed by
workspace id; `release` removes everything `prepare` made and is a no-op when nothing is
there. Images are named; `host` always exists.

`Disks` keeps encrypted block storage: one image file per disk, keyed by disk id, sized at
creation (the size is the quota), readable only while its key is in the kernel. Every
method is idempotent. The caller owns the keys (`corral.secrets`); a disk never stores one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from corral.drivers.runtime.base import Mount


@dataclass(frozen=True)
class Rootfs:
    path: Path
    mounts: tuple[Mount, ...]  # what the runtime must bind into the container (e.g. /usr)


class Storage(Protocol):
    def images(self) -> list[str]: ...

    def prepare(
        self,
        workspace_id: str,
        image: str,
        layers: tuple[Path, ...] = (),
        size_mib: int | None = None,
    ) -> Rootfs:
        """Mount the root filesystem: `layers` (topmost first) between image and upper dir;
        `size_mib` caps the upper dir (ENOSPC past it), None leaves it uncapped."""

    def upper_dir(self, workspace_id: str) -> Path:
        """The writable layer: what a workspace changed relative to its image and layers."""

    def writable_layer(self, workspace_id: str, size_mib: int | None = None) -> Path:
        """The writable layer, made (a capped one: made and mounted) if it is not there yet:
        where files are put before a workspace's first start (a fork's copy)."""

    def release(self, workspace_id: str) -> None: ...

    def prepared(self) -> list[str]:
        """Ids of every workspace that has a root filesystem here (for the reconciler)."""


class Disks(Protocol):
    def create(self, disk_id: str, size_mib: int, key: bytes) -> Path:
        """Make an empty disk encrypted with `key` (64 bytes), mounted; its data directory."""

    def mount(self, disk_id: str, key: bytes) -> Path:
        """Attach and mount the disk and put its key in the kernel; its data directory.

        Refuses (RuntimeFailure) a disk whose data directory is not encrypted with `key`.
        """

    def unmount(self, disk_id: str) -> None:
        """Take the key out of the kernel and unmount; the data stays, unreadable."""

    def erase(self, disk_id: str) -> None:
        """Cryptographic erasure, as far as the disk goes: remove the key from the kernel,
        unmount, detach, delete the image. (The caller then destroys its wrapped key.)"""

    def exists(self, disk_id: str) -> bool: ...

    def data_dir(self, disk_id: str) -> Path:
        """Where the disk's files are while it is mounted (what a workspace gets bound in)."""

    def disks(self) -> list[str]:
        """Ids of every disk with an image here."""

    def mounted(self) -> list[str]:
        """Ids of every disk mounted here."""

    def leftovers(self) -> list[str]:
        """Half-made images and loop devices of deleted images (for the reconciler)."""

    def remove_leftover(self, leftover: str) -> None: ...
