"""Each owner's named secrets: set once (`corral secret set NAME`), referenced from the env
of many workspaces (`{"OPENAI_API_KEY": {"secret": "openai"}}`).

Values are sealed under the owner's data key (`tenant:<owner>`), bound to the secret's name;
they leave this module only to become a workspace's environment, never to an API response.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from corral.errors import Conflict, NotFound
from corral.secrets.keyring import Keyring

MAX_SECRET_BYTES = 64 * 1024


@dataclass(frozen=True)
class SecretInfo:
    name: str
    created_at: datetime
    updated_at: datetime


class SecretRows(Protocol):
    def put_secret(self, owner: str, name: str, sealed: bytes) -> tuple[datetime, datetime]: ...

    def get_secret(self, owner: str, name: str) -> bytes | None: ...

    def list_secrets(self, owner: str) -> list[tuple[str, datetime, datetime]]: ...

    def delete_secret(self, owner: str, name: str) -> bool: ...


def _context(owner: str, name: str) -> str:
    return f"secret:{owner}:{name}"


class TenantSecrets:
    def __init__(
        self, rows: SecretRows, keyring: Keyring, users: Callable[[str, str], list[str]]
    ) -> None:
        self._rows = rows
        self._keyring = keyring
        self._users = users  # (owner, name) -> names of live workspaces referencing it

    def set(self, owner: str, name: str, value: str) -> SecretInfo:
        sealed = self._keyring.seal(f"tenant:{owner}", value, _context(owner, name))
        created, updated = self._rows.put_secret(owner, name, sealed)
        return SecretInfo(name, created, updated)

    def list(self, owner: str) -> list[SecretInfo]:
        return [SecretInfo(*row) for row in self._rows.list_secrets(owner)]

    def exists(self, owner: str, name: str) -> bool:
        return self._rows.get_secret(owner, name) is not None

    def value(self, owner: str, name: str) -> str:
        sealed = self._rows.get_secret(owner, name)
        if sealed is None:
            raise NotFound(f"no secret {name!r}", hint=f"set it: corral secret set {name}")
        return self._keyring.unseal(f"tenant:{owner}", sealed, _context(owner, name))

    def delete(self, owner: str, name: str) -> None:
        if users := self._users(owner, name):
            raise Conflict(
                f"secret {name!r} is used by workspaces: {', '.join(users)}",
                hint="destroy them first, or set a new value instead",
            )
        if not self._rows.delete_secret(owner, name):
            raise NotFound(f"no secret {name!r}", hint="`corral secret ls` lists secrets")
