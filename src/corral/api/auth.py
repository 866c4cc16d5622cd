"""Authentication: who is calling, from the API key in the Authorization header.

Keys themselves (minting, hashing) live in `corral.store.api_keys`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from fastapi import Request

from corral.errors import Unauthorized
from corral.store import Store
from corral.store.api_keys import KEY_PREFIX, hash_key, issue_key

__all__ = ["KEY_PREFIX", "Principal", "authenticate", "create_key", "hash_key", "principal"]


@dataclass(frozen=True)
class Principal:
    key_id: str
    owner: str  # a tenant, or `<tenant>/<workspace>`: a workspace's token (corral.tenancy)
    role: str
    prefix: str = ""  # the key's first characters (for the audit log)


TOUCH_INTERVAL_S = 60.0  # how stale a key's "last used" may get (saves a write per call)
_touched: dict[str, float] = {}
_touched_guard = threading.Lock()


def _touch(store: Store, key_id: str) -> None:
    now = time.monotonic()
    with _touched_guard:
        if now - _touched.get(key_id, -TOUCH_INTERVAL_S) < TOUCH_INTERVAL_S:
            return
        _touched[key_id] = now
    store.touch_api_key(key_id)


def create_key(store: Store, owner: str, role: str) -> str:
    """Make a key, store its hash, return the key itself (shown once)."""
    return issue_key(store, owner, role)[1]


def authenticate(store: Store, header: str | None) -> Principal:
    if not header or not header.lower().startswith("bearer "):
        raise Unauthorized("missing API key", hint="send the header Authorization: Bearer <key>")
    row = store.find_api_key(hash_key(header[7:].strip()))
    if row is None or row["revoked_at"] is not None:
        raise Unauthorized("invalid or revoked API key")
    _touch(store, row["id"])
    return Principal(key_id=row["id"], owner=row["owner"], role=row["role"], prefix=row["prefix"])


def principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller (also left in the request's state, where
    the audit log finds it)."""
    who = authenticate(request.app.state.store, request.headers.get("authorization"))
    request.state.principal = who
    return who
