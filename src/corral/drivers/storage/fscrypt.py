"""ext4 native encryption (fscrypt, v2 policies): the kernel ioctls, as plain functions.

With a v2 policy the kernel derives a per-file key from the directory's 64-byte master key
(HKDF-SHA512) and encrypts contents with AES-256-XTS and names with AES-256-CTS. The master
key lives in the filesystem's own keyring (not a process keyring) from
`add_key` until `remove_key` or unmount, so processes in any namespace reach the plaintext
through a bind mount of the directory while the key is there, and nobody does after.

Struct layouts follow <linux/fscrypt.h>; every call raises OSError with the kernel's errno.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from dataclasses import dataclass

KEY_SIZE = 64  # FSCRYPT_MAX_KEY_SIZE: what a v2 policy's master key should be
IDENTIFIER_SIZE = 16

_POLICY_V2 = 2
_MODE_AES_256_XTS = 1
_MODE_AES_256_CTS = 4
_FLAGS_PAD_32 = 0x03
_KEY_SPEC_TYPE_IDENTIFIER = 2

_STATUS_ABSENT = 1
_STATUS_PRESENT = 2
_STATUS_INCOMPLETELY_REMOVED = 3
STATUS_NAMES = {
    _STATUS_ABSENT: "absent",
    _STATUS_PRESENT: "present",
    _STATUS_INCOMPLETELY_REMOVED: "incompletely_removed",
}

_REMOVAL_FILES_BUSY = 0x1
_REMOVAL_OTHER_USERS = 0x2


def _iowr(nr: int, size: int, read_only: bool = False) -> int:
    direction = 2 if read_only else 3  # _IOC_READ, or _IOC_READ|_IOC_WRITE
    return (direction << 30) | (size << 16) | (ord("f") << 8) | nr


class _KeySpecifier(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("u", ctypes.c_uint8 * 32),
    ]


class _PolicyV2(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint8),
        ("contents_encryption_mode", ctypes.c_uint8),
        ("filenames_encryption_mode", ctypes.c_uint8),
        ("flags", ctypes.c_uint8),
        ("log2_data_unit_size", ctypes.c_uint8),
        ("reserved", ctypes.c_uint8 * 3),
        ("master_key_identifier", ctypes.c_uint8 * IDENTIFIER_SIZE),
    ]


class _GetPolicyEx(ctypes.Structure):
    _fields_ = [("policy_size", ctypes.c_uint64), ("policy", _PolicyV2)]


class _AddKey(ctypes.Structure):
    _fields_ = [
        ("key_spec", _KeySpecifier),
        ("raw_size", ctypes.c_uint32),
        ("key_id", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32 * 8),
        ("raw", ctypes.c_uint8 * KEY_SIZE),
    ]


class _RemoveKey(ctypes.Structure):
    _fields_ = [
        ("key_spec", _KeySpecifier),
        ("removal_status_flags", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32 * 5),
    ]


class _KeyStatus(ctypes.Structure):
    _fields_ = [
        ("key_spec", _KeySpecifier),
        ("reserved", ctypes.c_uint32 * 6),
        ("status", ctypes.c_uint32),
        ("status_flags", ctypes.c_uint32),
        ("user_count", ctypes.c_uint32),
        ("out_reserved", ctypes.c_uint32 * 13),
    ]


# The size in an ioctl number is that of the header: `raw` is a flexible array member.
_ADD_KEY_HEADER = ctypes.sizeof(_AddKey) - KEY_SIZE
FS_IOC_SET_ENCRYPTION_POLICY = _iowr(19, 12, read_only=True)  # sized by the v1 struct
FS_IOC_GET_ENCRYPTION_POLICY_EX = _iowr(22, 9)
FS_IOC_ADD_ENCRYPTION_KEY = _iowr(23, _ADD_KEY_HEADER)
FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS = _iowr(25, ctypes.sizeof(_RemoveKey))
FS_IOC_GET_ENCRYPTION_KEY_STATUS = _iowr(26, ctypes.sizeof(_KeyStatus))


@dataclass(frozen=True)
class Removal:
    files_busy: bool  # some files were in use: their key stays until they are closed
    other_users: bool


def _ioctl(path: str, request: int, arg: ctypes.Structure) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, request, arg)
    finally:
        os.close(fd)


def _spec(identifier: bytes) -> _KeySpecifier:
    spec = _KeySpecifier(type=_KEY_SPEC_TYPE_IDENTIFIER)
    ctypes.memmove(spec.u, identifier, IDENTIFIER_SIZE)
    return spec


def add_key(mount_root: str, key: bytes) -> bytes:
    """Add a 64-byte master key to the filesystem mounted at `mount_root`; its identifier.

    Adding a key that is already there is not an error (the kernel counts it once).
    """
    if len(key) != KEY_SIZE:
        raise ValueError(f"an fscrypt v2 key is {KEY_SIZE} bytes, not {len(key)}")
    arg = _AddKey(key_spec=_KeySpecifier(type=_KEY_SPEC_TYPE_IDENTIFIER), raw_size=KEY_SIZE)
    ctypes.memmove(arg.raw, key, KEY_SIZE)
    try:
        _ioctl(mount_root, FS_IOC_ADD_ENCRYPTION_KEY, arg)
        return bytes(arg.key_spec.u[:IDENTIFIER_SIZE])
    finally:
        ctypes.memset(arg.raw, 0, KEY_SIZE)  # do not leave a copy in this buffer


def remove_key(mount_root: str, identifier: bytes) -> Removal:
    """Remove the key for every user: its files become unreadable (ciphertext) at once."""
    arg = _RemoveKey(key_spec=_spec(identifier))
    _ioctl(mount_root, FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS, arg)
    flags = arg.removal_status_flags
    return Removal(bool(flags & _REMOVAL_FILES_BUSY), bool(flags & _REMOVAL_OTHER_USERS))


def key_status(mount_root: str, identifier: bytes) -> str:
    """`absent`, `present` or `incompletely_removed` (files still open)."""
    arg = _KeyStatus(key_spec=_spec(identifier))
    _ioctl(mount_root, FS_IOC_GET_ENCRYPTION_KEY_STATUS, arg)
    return STATUS_NAMES.get(arg.status, "unknown")


def set_policy(directory: str, identifier: bytes) -> None:
    """Encrypt everything that will be created under the (empty) `directory` with that key."""
    policy = _PolicyV2(
        version=_POLICY_V2,
        contents_encryption_mode=_MODE_AES_256_XTS,
        filenames_encryption_mode=_MODE_AES_256_CTS,
        flags=_FLAGS_PAD_32,
    )
    ctypes.memmove(policy.master_key_identifier, identifier, IDENTIFIER_SIZE)
    _ioctl(directory, FS_IOC_SET_ENCRYPTION_POLICY, policy)


def policy_identifier(directory: str) -> bytes | None:
    """The key identifier of `directory`'s v2 policy; None when it is not encrypted."""
    arg = _GetPolicyEx(policy_size=ctypes.sizeof(_PolicyV2))
    try:
        _ioctl(directory, FS_IOC_GET_ENCRYPTION_POLICY_EX, arg)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.EOPNOTSUPP):  # not encrypted; cannot be
            return None
        raise
    if arg.policy.version != _POLICY_V2:
        return None
    return bytes(arg.policy.master_key_identifier)
