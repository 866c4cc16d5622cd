"""Envelope encryption: seal/open, key wrapping, key checks, the master key file, rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.errors import NotFound, RuntimeFailure
from corral.secrets import envelope
from corral.secrets.keyring import Keyring
from corral.secrets.master import MasterKeyFile, parse
from corral.store import Store
from corral.store.keys import KeyRows


def test_seal_round_trip_and_context_binding() -> None:
    key = envelope.new_key()
    blob = envelope.seal(key, b"hunter2", "env:ws1:PASSWORD")
    assert b"hunter2" not in blob
    assert envelope.open_sealed(key, blob, "env:ws1:PASSWORD") == b"hunter2"
    with pytest.raises(envelope.SealError):
        envelope.open_sealed(key, blob, "env:ws2:PASSWORD")  # moved to another row
    with pytest.raises(envelope.SealError):
        envelope.open_sealed(envelope.new_key(), blob, "env:ws1:PASSWORD")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(envelope.SealError):
        envelope.open_sealed(key, tampered, "env:ws1:PASSWORD")


def test_seal_is_randomized() -> None:
    key = envelope.new_key()
    assert envelope.seal(key, b"x", "c") != envelope.seal(key, b"x", "c")


def test_wrap_binds_the_key_id() -> None:
    master, disk_key = envelope.new_key(32), os.urandom(64)
    wrapped = envelope.wrap(master, disk_key, "disk:ws-a")
    assert envelope.unwrap(master, wrapped, "disk:ws-a") == disk_key
    with pytest.raises(envelope.SealError):
        envelope.unwrap(master, wrapped, "disk:ws-b")


def test_key_check_is_stable_and_distinct() -> None:
    a, b = envelope.new_key(32), envelope.new_key(32)
    assert envelope.key_check(a) == envelope.key_check(a) != envelope.key_check(b)
    assert a.hex() not in envelope.key_check(a)


def test_parse_master_key_formats() -> None:
    key = os.urandom(32)
    assert parse(key.hex().encode() + b"\n") == key
    assert parse(key) == key
    with pytest.raises(ValueError):
        parse(b"too short")


def test_master_key_file_created_private(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    key = MasterKeyFile(path, create=True).load(set())
    assert len(key) == 32 and path.stat().st_mode & 0o777 == 0o600
    assert MasterKeyFile(path, create=True).load({envelope.key_check(key)}) == key


def test_master_key_file_refusals(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    with pytest.raises(RuntimeFailure, match="missing"):
        MasterKeyFile(path, create=False).load(set())  # the operator's file must exist
    key = MasterKeyFile(path, create=True).load(set())
    with pytest.raises(RuntimeFailure, match="did not wrap"):
        MasterKeyFile(path, create=True).load({envelope.key_check(os.urandom(32))})
    path.chmod(0o644)
    with pytest.raises(RuntimeFailure, match="readable by other users"):
        MasterKeyFile(path, create=True).load({envelope.key_check(key)})


def _keyring(tmp_path: Path) -> tuple[Keyring, KeyRows]:
    rows = KeyRows(Store(f"sqlite:///{tmp_path / 'corral.db'}"))
    return Keyring(rows, MasterKeyFile(tmp_path / "master.key", create=True)), rows


def test_keyring_stores_only_wrapped_keys(tmp_path: Path) -> None:
    keyring, rows = _keyring(tmp_path)
    key = keyring.create("disk:ws-1", 64)
    assert keyring.get("disk:ws-1") == key and len(key) == 64
    wrapped = rows.get_wrapped_key("disk:ws-1")
    assert wrapped is not None and key not in wrapped
    assert keyring.get_or_create("disk:ws-1", 64) == key
    assert keyring.destroy("disk:ws-1") and not keyring.destroy("disk:ws-1")
    with pytest.raises(NotFound):
        keyring.get("disk:ws-1")


def test_destroyed_key_leaves_no_bytes_in_the_database_files(tmp_path: Path) -> None:
    keyring, rows = _keyring(tmp_path)
    keyring.create("disk:ws-1", 64)
    wrapped = rows.get_wrapped_key("disk:ws-1")
    assert wrapped is not None
    keyring.destroy("disk:ws-1")
    for path in tmp_path.glob("corral.db*"):
        assert wrapped not in path.read_bytes(), f"the wrapped key lingers in {path.name}"


def test_rotation_rewraps_every_key_and_survives_a_restart(tmp_path: Path) -> None:
    keyring, rows = _keyring(tmp_path)
    keys = {f"disk:d{i}": keyring.create(f"disk:d{i}", 64) for i in range(3)}
    sealed = keyring.seal("tenant:alice", "s3cret", "secret:alice:x")
    before = {kid: rows.get_wrapped_key(kid) for kid in keys}
    old_master = (tmp_path / "master.key").read_bytes()
    assert keyring.rotate() == 4
    assert (tmp_path / "master.key").read_bytes() != old_master
    assert not (tmp_path / "master.key.next").exists()
    assert all(rows.get_wrapped_key(kid) != before[kid] for kid in keys)
    assert rows.master_checks() == {keyring.master_check}
    reopened, _ = _keyring(tmp_path)
    assert {kid: reopened.get(kid) for kid in keys} == keys
    assert reopened.unseal("tenant:alice", sealed, "secret:alice:x") == "s3cret"


def test_rotation_interrupted_after_the_store_switched_is_finished(tmp_path: Path) -> None:
    keyring, rows = _keyring(tmp_path)
    key = keyring.create("disk:d", 64)
    new = envelope.new_key(32)
    master = MasterKeyFile(tmp_path / "master.key", create=True)
    master.stage(new)
    old = keyring._master
    rows.rewrap_keys(lambda kid, w: envelope.wrap(new, envelope.unwrap(old, w, kid), kid),
                     envelope.key_check(new))  # fmt: skip
    # ...and the daemon died before renaming master.key.next over master.key.
    reopened, _ = _keyring(tmp_path)
    assert reopened.get("disk:d") == key
    assert parse((tmp_path / "master.key").read_bytes()) == new
    assert not (tmp_path / "master.key.next").exists()


def test_rotation_interrupted_before_the_store_switched_is_discarded(tmp_path: Path) -> None:
    keyring, _ = _keyring(tmp_path)
    key = keyring.create("disk:d", 64)
    MasterKeyFile(tmp_path / "master.key", create=True).stage(envelope.new_key(32))
    reopened, _ = _keyring(tmp_path)
    assert reopened.get("disk:d") == key
    assert not (tmp_path / "master.key.next").exists()
