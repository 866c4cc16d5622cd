"""The pure primitives of envelope encryption (AES-256-GCM via `cryptography`).

A sealed blob is `version (1 byte) | nonce (12 bytes) | ciphertext | tag (16 bytes)`. Every
seal binds a *context* string as associated data: a blob only opens under the context it was
sealed for, so a wrapped key or an encrypted env value cannot be swapped onto another row
(another workspace, another variable) and decrypt there.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MASTER_KEY_SIZE = 32  # AES-256
DATA_KEY_SIZE = 32
_VERSION = b"\x01"
_NONCE_SIZE = 12
_CHECK_LABEL = b"corral master key check"


class SealError(ValueError):
    """A blob did not open: wrong key, wrong context, or tampered with."""


def new_key(size: int = DATA_KEY_SIZE) -> bytes:
    return os.urandom(size)


def seal(key: bytes, plaintext: bytes, context: str) -> bytes:
    nonce = os.urandom(_NONCE_SIZE)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())


def open_sealed(key: bytes, blob: bytes, context: str) -> bytes:
    if len(blob) < 1 + _NONCE_SIZE + 16 or blob[:1] != _VERSION:
        raise SealError(f"not a sealed blob (context {context!r})")
    nonce, ciphertext = blob[1 : 1 + _NONCE_SIZE], blob[1 + _NONCE_SIZE :]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, context.encode())
    except InvalidTag:
        raise SealError(f"cannot decrypt (wrong key or context {context!r})") from None


def wrap(master: bytes, key: bytes, key_id: str) -> bytes:
    """`key` encrypted under the master key, bound to its id."""
    return seal(master, key, f"key:{key_id}")


def unwrap(master: bytes, wrapped: bytes, key_id: str) -> bytes:
    return open_sealed(master, wrapped, f"key:{key_id}")


def key_check(master: bytes) -> str:
    """A short public fingerprint of a master key (HMAC, reveals nothing about the key).

    Stored next to every wrapped key, it tells which master key wrapped it, so a daemon
    started with the wrong master key refuses at once instead of failing on first use.
    """
    return hmac.new(master, _CHECK_LABEL, hashlib.sha256).hexdigest()[:16]
