"""API keys: random bearer tokens, stored only as SHA-256 hashes.

Keys carry 256 bits of randomness, so a fast hash is as safe as a slow one here and keeps
authentication off the hot path of every call.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from fastapi import Request

from corral.errors import Unauthorized
from corral.store import Store
from corral.store.store import utcnow

KEY_PREFIX = "crl_"


@dataclass(frozen=True)
class Principal:
    key_id: str
    owner: str
    role: str


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(store: Store, owner: str, role: str) -> str:
    """Make a key, store its hash, return the key itself (shown once)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    store.insert_api_key(
        id=secrets.token_hex(8),
        owner=owner,
        prefix=key[: len(KEY_PREFIX) + 6],
        hash=hash_key(key),
        role=role,
        created_at=utcnow(),
    )
    return key


def authenticate(store: Store, header: str | None) -> Principal:
    if not header or not header.lower().startswith("bearer "):
        raise Unauthorized("missing API key", hint="send the header Authorization: Bearer <key>")
    row = store.find_api_key(hash_key(header[7:].strip()))
    if row is None or row["revoked_at"] is not None:
        raise Unauthorized("invalid or revoked API key")
    return Principal(key_id=row["id"], owner=row["owner"], role=row["role"])


def principal(request: Request) -> Principal:
    """FastAPI dependency: the authenticated caller."""
    return authenticate(request.app.state.store, request.headers.get("authorization"))
