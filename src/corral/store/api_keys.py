"""API keys: random bearer tokens, stored only as SHA-256 hashes.

Keys carry 256 bits of randomness, so a fast hash is as safe as a slow one here and keeps
authentication off the hot path of every call. Issued to people (the admin key, user keys)
and to workspaces with `api_access` (revoked when the workspace is destroyed).
"""

from __future__ import annotations

import hashlib
import secrets

from corral.store.store import Store, utcnow

KEY_PREFIX = "crl_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(store: Store, owner: str, role: str) -> tuple[str, str]:
    """Make a key, store its hash; return (its id, the key itself: shown once, never stored)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = secrets.token_hex(8)
    store.insert_api_key(
        id=key_id,
        owner=owner,
        prefix=key[: len(KEY_PREFIX) + 6],
        hash=hash_key(key),
        role=role,
        created_at=utcnow(),
    )
    return key_id, key
