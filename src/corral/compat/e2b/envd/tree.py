"""A directory tree of a sandbox, as ListDir and the watches see it."""

from __future__ import annotations

from collections.abc import Iterator

from corral.drivers.storage.files import ConfinedFiles, FileInfo
from corral.errors import NotFound


def walk(files: ConfinedFiles, path: str, depth: int) -> Iterator[FileInfo]:
    """The entries below `path`, `depth` levels deep, without following symlinks; a
    subdirectory removed while it is being walked is skipped."""
    for info in files.list(path):
        yield info
        if depth > 1 and info.type == "dir":
            try:
                yield from walk(files, info.path, depth - 1)
            except NotFound:
                continue
