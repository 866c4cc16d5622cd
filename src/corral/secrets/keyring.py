"""The keyring: named keys, stored only wrapped by the master key.

Key ids name what a key protects: `disk:<disk id>` (a 64-byte fscrypt key), `workspace:<id>`
and `tenant:<owner>` (32-byte data keys sealing env secrets). Raw keys exist only in memory,
for the time of a call; the store holds `wrap(master, key)` and the master key's check.
Destroying a key deletes its row securely (see `KeyStore.delete_wrapped_key`): with the
wrapped key gone, whatever it encrypted is unreadable, wherever copies of it lie.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from corral.errors import NotFound, RuntimeFailure
from corral.secrets import envelope
from corral.secrets.master import MasterKeyFile


class KeyStore(Protocol):
    """Where wrapped keys are kept (the store implements it)."""

    def get_wrapped_key(self, key_id: str) -> bytes | None: ...

    def put_wrapped_key(self, key_id: str, wrapped: bytes, master_check: str) -> None: ...

    def delete_wrapped_key(self, key_id: str) -> bool:
        """Delete so that the bytes do not linger in the database's free pages or journal."""

    def wrapped_key_ids(self) -> list[str]: ...

    def master_checks(self) -> set[str]:
        """The key checks of the master keys that wrapped the stored keys."""

    def rewrap_keys(self, rewrap: Callable[[str, bytes], bytes], master_check: str) -> int:
        """Replace every wrapped key by `rewrap(id, wrapped)`, all in one transaction."""


class Keyring:
    def __init__(self, store: KeyStore, master_file: MasterKeyFile) -> None:
        self._store = store
        self._file = master_file
        self._master = master_file.load(store.master_checks())
        self._lock = threading.RLock()  # rotation swaps the master key under everyone

    @property
    def master_check(self) -> str:
        return envelope.key_check(self._master)

    def create(self, key_id: str, size: int = envelope.DATA_KEY_SIZE) -> bytes:
        key = envelope.new_key(size)
        with self._lock:
            self._store.put_wrapped_key(
                key_id, envelope.wrap(self._master, key, key_id), self.master_check
            )
        return key

    def get(self, key_id: str) -> bytes:
        with self._lock:
            wrapped = self._store.get_wrapped_key(key_id)
            if wrapped is None:
                raise NotFound(f"no key {key_id!r}")
            try:
                return envelope.unwrap(self._master, wrapped, key_id)
            except envelope.SealError as exc:
                raise RuntimeFailure(f"the key {key_id!r} does not unwrap: {exc}") from None

    def get_or_create(self, key_id: str, size: int = envelope.DATA_KEY_SIZE) -> bytes:
        with self._lock:
            try:
                return self.get(key_id)
            except NotFound:
                return self.create(key_id, size)

    def destroy(self, key_id: str) -> bool:
        with self._lock:
            return self._store.delete_wrapped_key(key_id)

    def ids(self) -> list[str]:
        return self._store.wrapped_key_ids()

    # -- data sealed under a named data key ------------------------------------------------

    def seal(self, key_id: str, plaintext: str, context: str) -> bytes:
        return envelope.seal(self.get_or_create(key_id), plaintext.encode(), context)

    def unseal(self, key_id: str, blob: bytes, context: str) -> str:
        try:
            return envelope.open_sealed(self.get(key_id), blob, context).decode()
        except envelope.SealError as exc:
            raise RuntimeFailure(f"cannot decrypt {context}: {exc}") from None

    # -- master key -------------------------------------------------------------------------

    def rotate(self) -> int:
        """Re-wrap every key under a new master key; the data they protect is untouched."""
        with self._lock:
            old, new = self._master, envelope.new_key(envelope.MASTER_KEY_SIZE)
            self._file.stage(new)

            def rewrap(key_id: str, wrapped: bytes) -> bytes:
                return envelope.wrap(new, envelope.unwrap(old, wrapped, key_id), key_id)

            try:
                count = self._store.rewrap_keys(rewrap, envelope.key_check(new))
            except envelope.SealError as exc:
                self._file.staged.unlink(missing_ok=True)
                raise RuntimeFailure(
                    f"a stored key does not unwrap; nothing changed: {exc}"
                ) from None
            except BaseException:
                self._file.staged.unlink(missing_ok=True)
                raise
            self._file.commit()
            self._master = new
            return count
