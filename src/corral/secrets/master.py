"""The master key file: 32 random bytes, hex-encoded, mode 0600.

By default `<state dir>/master.key`, created on first start. An operator may supply the key
instead (`CORRAL_MASTER_KEY_FILE`, e.g. a file on tmpfs filled from a KMS at boot); corral
then never creates it, only reads it (and replaces it when asked to rotate).

Rotation is crash-safe: the new key is staged at `<path>.next`, the store re-wraps every key
in one transaction, then the old file is overwritten and the staged one renamed over it. On
load, when a staged file exists, whichever of the two keys matches the store's key check
wins and the rotation is finished or discarded, so a crash at any line loses no key.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from corral.errors import RuntimeFailure
from corral.secrets.envelope import MASTER_KEY_SIZE, key_check, new_key


def parse(text: bytes) -> bytes:
    """A master key from file contents: 64 hex digits (what corral writes) or 32 raw bytes."""
    stripped = text.strip()
    if len(stripped) == 2 * MASTER_KEY_SIZE:
        with contextlib.suppress(ValueError):
            return bytes.fromhex(stripped.decode("ascii"))
    if len(text) == MASTER_KEY_SIZE:
        return text
    raise ValueError(f"expected {2 * MASTER_KEY_SIZE} hex digits or {MASTER_KEY_SIZE} raw bytes")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MasterKeyFile:
    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        self.create = create  # False when the operator supplies the file

    @property
    def staged(self) -> Path:
        return self.path.with_name(self.path.name + ".next")

    def _read(self, path: Path) -> bytes | None:
        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RuntimeFailure(f"cannot read the master key {path}: {exc.strerror}") from None
        if mode & 0o077:
            raise RuntimeFailure(
                f"the master key {path} is readable by other users", hint=f"chmod 600 {path}"
            )
        try:
            return parse(data)
        except ValueError:
            return None

    def load(self, in_use: set[str]) -> bytes:
        """The master key that wrapped the keys in the store (`in_use`: their key checks)."""
        if len(in_use) > 1:
            raise RuntimeFailure(
                f"the store holds keys wrapped by {len(in_use)} master keys",
                hint="restore the store from a backup",
            )
        current, staged = self._read(self.path), self._read(self.staged)
        wanted = next(iter(in_use), None)
        if staged is not None and wanted == key_check(staged):
            self._finish()  # crashed after the store switched over: finish the rotation
            return staged
        if self.staged.exists():
            self.staged.unlink()  # crashed before the store switched over: discard
        if current is None:
            if self.path.exists():
                raise RuntimeFailure(
                    f"the master key file {self.path} is not a valid key",
                    hint="it must hold 64 hex digits",
                )
            if wanted is not None or not self.create:
                raise RuntimeFailure(
                    f"the master key file {self.path} is missing",
                    hint="restore it, or point CORRAL_MASTER_KEY_FILE at it"
                    if wanted
                    else "create it: head -c 32 /dev/urandom | xxd -p -c 64 > FILE",
                )
            current = new_key(MASTER_KEY_SIZE)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _write_private(self.path, current.hex().encode() + b"\n")
        if wanted is not None and key_check(current) != wanted:
            raise RuntimeFailure(
                f"the master key in {self.path} did not wrap the keys in the store",
                hint=f"use the master key whose check is {wanted}",
            )
        return current

    def stage(self, key: bytes) -> None:
        try:
            _write_private(self.staged, key.hex().encode() + b"\n")
        except OSError as exc:
            raise RuntimeFailure(
                f"cannot write the new master key next to {self.path}: {exc.strerror}",
                hint="the directory must be writable",
            ) from None

    def commit(self) -> None:
        """Make the staged key the master key (once the store has switched over to it)."""
        self._finish()

    def _finish(self) -> None:
        # Overwrite the old key where it lies before the rename frees its blocks.
        with contextlib.suppress(FileNotFoundError):
            size = self.path.stat().st_size
            with open(self.path, "r+b") as f:
                f.write(b"\0" * size)
                f.flush()
                os.fsync(f.fileno())
        os.replace(self.staged, self.path)
        _sync_dir(self.path.parent)
