"""Overlay root filesystems: the image read-only below, a per-workspace writable layer on top.

The writable layer is a directory on the host's filesystem, uncapped (this kernel has no
ext4/XFS project quotas), unless the workspace asks for a cap (`rootfs_mib`): then it lives
in an ext4 image of that size of its own, loop-mounted under the workspace's directory, and
a write past the cap fails with ENOSPC inside the workspace, nowhere else.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from corral.drivers import linux
from corral.drivers.storage import loop
from corral.drivers.storage.base import Rootfs
from corral.drivers.storage.disks import make_filesystem, unmount_point
from corral.drivers.storage.images import ImageStore
from corral.errors import RuntimeFailure

_LAYER = "layer"  # the capped layer's mount point, holding upper/ and work/
_LAYER_IMAGE = "layer.img"


class OverlayStorage:
    def __init__(self, workspaces_dir: Path, images: ImageStore) -> None:
        self.workspaces_dir = workspaces_dir
        self.image_store = images
        workspaces_dir.mkdir(parents=True, exist_ok=True)

    def images(self) -> list[str]:
        return self.image_store.names()

    def rootfs_path(self, workspace_id: str) -> Path:
        return self.workspaces_dir / workspace_id / "rootfs"

    def upper_dir(self, workspace_id: str) -> Path:
        return self._layer_home(self.workspaces_dir / workspace_id) / "upper"

    @staticmethod
    def _layer_home(base: Path) -> Path:
        """Where the upper and work dirs are: the capped layer's mount, or `base` itself."""
        return base / _LAYER if (base / _LAYER_IMAGE).exists() else base

    def prepare(
        self,
        workspace_id: str,
        image: str,
        layers: tuple[Path, ...] = (),
        size_mib: int | None = None,
    ) -> Rootfs:
        # Template layers sit between the image and the writable layer, topmost first.
        lower = ":".join(str(p) for p in (*layers, self.image_store.lower_dir(image)))
        base = self.workspaces_dir / workspace_id
        upper = self.writable_layer(workspace_id, size_mib)
        work, merged = upper.parent / "work", base / "rootfs"
        for directory in (work, merged):
            directory.mkdir(parents=True, exist_ok=True)
        if not linux.is_mountpoint(str(merged)):
            options = f"lowerdir={lower},upperdir={upper},workdir={work}"
            try:
                linux.mount("overlay", str(merged), "overlay", linux.MS_NODEV, options)
            except OSError as exc:
                raise RuntimeFailure(f"cannot mount the workspace root filesystem: {exc}") from exc
        return Rootfs(merged, self.image_store.mounts(image))

    def writable_layer(self, workspace_id: str, size_mib: int | None = None) -> Path:
        base = self.workspaces_dir / workspace_id
        base.mkdir(parents=True, exist_ok=True)
        if size_mib is not None or (base / _LAYER_IMAGE).exists():
            self._mount_layer(base, size_mib)
        upper = self._layer_home(base) / "upper"
        upper.mkdir(exist_ok=True)
        return upper

    @staticmethod
    def _mount_layer(base: Path, size_mib: int | None) -> None:
        """Make (once) and mount the capped layer's filesystem at `base/layer`."""
        image, point = base / _LAYER_IMAGE, base / _LAYER
        point.mkdir(exist_ok=True)
        if linux.is_mountpoint(str(point)):
            return
        if not image.exists():
            assert size_mib is not None
            make_filesystem(image, size_mib, encrypt=False)
        try:
            with loop.attached(image) as device:
                linux.mount(device, str(point), "ext4", linux.MS_NODEV, "discard")
        except OSError as exc:
            raise RuntimeFailure(f"cannot mount the workspace's writable layer: {exc}") from exc

    def release(self, workspace_id: str) -> None:
        base = self.workspaces_dir / workspace_id
        merged = base / "rootfs"
        for point in sorted(linux.mountpoints_under(str(merged)), reverse=True):
            with contextlib.suppress(OSError):
                linux.umount(point)
        if linux.is_mountpoint(str(base / _LAYER)):
            unmount_point(base / _LAYER)  # its loop device detaches itself once unmounted
        shutil.rmtree(base, ignore_errors=True)

    def prepared(self) -> list[str]:
        if not self.workspaces_dir.is_dir():
            return []
        return [p.name for p in self.workspaces_dir.iterdir() if p.is_dir()]
