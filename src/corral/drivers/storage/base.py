"""The storage contract: give each workspace a writable root filesystem over a read-only image.

`prepare` is idempotent and keyed by workspace id; `release` removes everything `prepare`
made and is a no-op when nothing is there. Images are named; `host` always exists.
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

    def prepare(self, workspace_id: str, image: str) -> Rootfs: ...

    def release(self, workspace_id: str) -> None: ...

    def prepared(self) -> list[str]:
        """Ids of every workspace that has a root filesystem here (for the reconciler)."""
