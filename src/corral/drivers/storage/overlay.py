"""Overlay root filesystems: the image read-only below, a per-workspace writable layer on top."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from corral.drivers import linux
from corral.drivers.storage.base import Rootfs
from corral.drivers.storage.images import ImageStore
from corral.errors import RuntimeFailure


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
        return self.workspaces_dir / workspace_id / "upper"

    def prepare(self, workspace_id: str, image: str, layers: tuple[Path, ...] = ()) -> Rootfs:
        # Template layers sit between the image and the writable layer, topmost first.
        lower = ":".join(str(p) for p in (*layers, self.image_store.lower_dir(image)))
        base = self.workspaces_dir / workspace_id
        upper, work, merged = base / "upper", base / "work", base / "rootfs"
        for directory in (upper, work, merged):
            directory.mkdir(parents=True, exist_ok=True)
        if not linux.is_mountpoint(str(merged)):
            options = f"lowerdir={lower},upperdir={upper},workdir={work}"
            try:
                linux.mount("overlay", str(merged), "overlay", linux.MS_NODEV, options)
            except OSError as exc:
                raise RuntimeFailure(f"cannot mount the workspace root filesystem: {exc}") from exc
        return Rootfs(merged, self.image_store.mounts(image))

    def release(self, workspace_id: str) -> None:
        base = self.workspaces_dir / workspace_id
        merged = base / "rootfs"
        for point in sorted(linux.mountpoints_under(str(merged)), reverse=True):
            with contextlib.suppress(OSError):
                linux.umount(point)
        shutil.rmtree(base, ignore_errors=True)

    def prepared(self) -> list[str]:
        if not self.workspaces_dir.is_dir():
            return []
        return [p.name for p in self.workspaces_dir.iterdir() if p.is_dir()]
