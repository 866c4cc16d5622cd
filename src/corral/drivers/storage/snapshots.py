"""Copies for snapshots and forks, and the read-only layers templates are made of.

`copy_tree` copies with `cp -a --reflink=auto`: on a filesystem that shares extents (btrfs,
XFS with reflink) a file costs no data copy until either side changes it; elsewhere (ext4)
it is a real copy. Ownership, modes, times, xattrs (overlayfs' own `trusted.overlay.*`
included), hard links, device nodes and overlay whiteouts all survive.

A template layer is a copy of a workspace's writable layer at snapshot time, stacked read-only
between the base image and the writable layers of workspaces made from the template.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from corral.errors import RuntimeFailure

_PARTIAL = ".partial"


def copy_tree(source: Path, target: Path) -> None:
    """Copy the contents of directory `source` into directory `target` (made if missing)."""
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["cp", "-a", "--reflink=auto", f"{source}/.", str(target)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise RuntimeFailure(f"copy failed: {lines[-1] if lines else 'cp failed'}")


class TemplateLayers:
    def __init__(self, templates_dir: Path) -> None:
        self.templates_dir = templates_dir
        templates_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, template_id: str) -> Path:
        return self.templates_dir / template_id

    def save(self, template_id: str, upper: Path) -> Path:
        """A copy of `upper` as the layer of `template_id` (all or nothing, crash included)."""
        final = self.path(template_id)
        partial = final.with_name(final.name + _PARTIAL)
        shutil.rmtree(partial, ignore_errors=True)
        try:
            copy_tree(upper, partial)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        partial.rename(final)
        return final

    def remove(self, template_id: str) -> None:
        for path in (self.path(template_id), self.path(template_id + _PARTIAL)):
            shutil.rmtree(path, ignore_errors=True)

    def layers(self) -> list[str]:
        """Ids of every layer here, half-made ones included (`<id>.partial`)."""
        return sorted(p.name for p in self.templates_dir.iterdir() if p.is_dir())
