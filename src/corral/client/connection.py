"""Where the client connects and with which key: arguments, then environment, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from corral.config import DEFAULT_PORT

DEFAULT_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
DEFAULT_STATE_DIR = "/var/lib/corral"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str | None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


def resolve(
    url: str | None = None, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> Connection:
    """The connection to use; on the daemon's own host the admin key file is the fallback."""
    return Connection(
        url=(url or os.environ.get("CORRAL_URL") or DEFAULT_URL).rstrip("/"),
        # CORRAL_TOKEN: a workspace's own scoped token, set inside it with api_access.
        api_key=api_key
        or os.environ.get("CORRAL_API_KEY")
        or os.environ.get("CORRAL_TOKEN")
        or _admin_key(),
        timeout=timeout,
    )


def _admin_key() -> str | None:
    state_dir = Path(os.environ.get("CORRAL_STATE_DIR", DEFAULT_STATE_DIR))
    try:
        return (state_dir / "admin.key").read_text().strip() or None
    except OSError:
        return None
