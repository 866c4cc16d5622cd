"""What every envd call starts from: the sandbox it names, paths as envd resolves them.

Commands and file operations run as root, whose home is /root: a relative path or `~` is
resolved there, as envd resolves them against the home of its user. The `user` an SDK call
names is accepted and ignored.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from corral.compat.e2b.access import SandboxTokens
from corral.drivers.storage.files import ConfinedFiles
from corral.engine.engine import Engine
from corral.engine.spec import WorkspaceRecord
from corral.errors import InvalidSpec

HOME = "/root"
KEEPALIVE_HEADER = "keepalive-ping-interval"
DEFAULT_KEEPALIVE_S = 50.0


def resolve_path(path: str) -> str:
    """An absolute path in the sandbox for what the SDK sent (relative, `~`, or empty)."""
    if not path:
        return HOME
    if path == "~" or path.startswith("~/"):
        path = HOME + path[1:]
    elif path.startswith("~"):
        raise InvalidSpec(f"cannot expand {path.split('/')[0]!r}: only ~ (root's home) is known")
    return posixpath.normpath(posixpath.join(HOME, path))


def keepalive_s(headers: Mapping[str, str]) -> float:
    """How often a stream sends a keepalive when nothing happens, as the caller asks."""
    try:
        return max(float(headers.get(KEEPALIVE_HEADER, "")), 1.0)
    except ValueError:
        return DEFAULT_KEEPALIVE_S


@dataclass(frozen=True)
class Sandboxes:
    """Resolves envd requests to their sandbox, and opens its files; blocking calls."""

    engine: Engine
    tokens: SandboxTokens

    def get(self, headers: Mapping[str, str]) -> WorkspaceRecord:
        return self.tokens.sandbox(self.engine, headers)

    def files(self, ws: WorkspaceRecord) -> ConfinedFiles:
        return ConfinedFiles(self.engine.root_dir(ws.id, ws.owner))

    def files_for(self, headers: Mapping[str, str]) -> ConfinedFiles:
        return self.files(self.get(headers))
