"""Loop devices over image files, through /dev/loop-control ioctls (no `losetup`).

A device is always set up with LO_FLAGS_AUTOCLEAR: the kernel detaches it when its last
user goes (the mount on top of it, or the descriptor held while mounting). A crash between
attaching and mounting, a failed mount, or an unmount therefore never leaks a device.
Devices are found again by their backing file, so whoever owns the image files (a daemon's
own state directory) owns the devices, and daemons with different state dirs never collide.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOOP_CTL_GET_FREE = 0x4C82
LOOP_CONFIGURE = 0x4C0A
LOOP_CLR_FD = 0x4C01
LO_FLAGS_AUTOCLEAR = 4
LO_FLAGS_DIRECT_IO = 16
_LO_NAME_SIZE = 64
_SYS_BLOCK = Path("/sys/block")
_ATTEMPTS = 16


class _LoopInfo64(ctypes.Structure):
    _fields_ = [
        ("lo_device", ctypes.c_uint64),
        ("lo_inode", ctypes.c_uint64),
        ("lo_rdevice", ctypes.c_uint64),
        ("lo_offset", ctypes.c_uint64),
        ("lo_sizelimit", ctypes.c_uint64),
        ("lo_number", ctypes.c_uint32),
        ("lo_encrypt_type", ctypes.c_uint32),
        ("lo_encrypt_key_size", ctypes.c_uint32),
        ("lo_flags", ctypes.c_uint32),
        ("lo_file_name", ctypes.c_uint8 * _LO_NAME_SIZE),
        ("lo_crypt_name", ctypes.c_uint8 * _LO_NAME_SIZE),
        ("lo_encrypt_key", ctypes.c_uint8 * 32),
        ("lo_init", ctypes.c_uint64 * 2),
    ]


class _LoopConfig(ctypes.Structure):
    _fields_ = [
        ("fd", ctypes.c_uint32),
        ("block_size", ctypes.c_uint32),
        ("info", _LoopInfo64),
        ("reserved", ctypes.c_uint64 * 8),
    ]


def backing_files() -> dict[str, str]:
    """Every attached loop device and the path of its backing file."""
    found = {}
    for entry in _SYS_BLOCK.glob("loop*"):
        with contextlib.suppress(OSError):
            backing = (entry / "loop" / "backing_file").read_text().strip()
            found[f"/dev/{entry.name}"] = backing.removesuffix(" (deleted)")
    return found


def find(image: Path) -> str | None:
    """The loop device backed by `image`, if one is attached."""
    target = str(image)
    return next((dev for dev, path in backing_files().items() if path == target), None)


def release(image: Path, timeout: float = 2.0) -> bool:
    """Wait for the loop device over `image` to go (autoclear runs in the background after
    the last user leaves), detaching it if it lingers; whether it is gone."""
    deadline = time.monotonic() + timeout
    detached = False
    while (device := find(image)) is not None:
        if time.monotonic() > deadline:
            return False
        if not detached and time.monotonic() > deadline - timeout / 2:
            detach(device)
            detached = True
        time.sleep(0.005)
    return True


@contextlib.contextmanager
def attached(image: Path) -> Iterator[str]:
    """A loop device over `image` (the existing one if any), held open for the block.

    Mount it inside the block: once the block ends, only the mount keeps the device.
    """
    image_fd = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    try:
        existing = find(image)
        if existing is not None:
            device_fd = os.open(existing, os.O_RDWR | os.O_CLOEXEC)
            device = existing
        else:
            device, device_fd = _configure(image, image_fd)
    finally:
        os.close(image_fd)
    try:
        yield device
    finally:
        os.close(device_fd)


def _configure(image: Path, image_fd: int) -> tuple[str, int]:
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(_ATTEMPTS):
            device = f"/dev/loop{fcntl.ioctl(control, LOOP_CTL_GET_FREE)}"
            # Direct I/O keeps the image out of the host's page cache (only the disk's own
            # cache holds data); a backing filesystem that cannot do it gets buffered I/O.
            for flags in (LO_FLAGS_AUTOCLEAR | LO_FLAGS_DIRECT_IO, LO_FLAGS_AUTOCLEAR):
                device_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
                try:
                    fcntl.ioctl(device_fd, LOOP_CONFIGURE, _config(image, image_fd, flags))
                    return device, device_fd
                except OSError as exc:
                    os.close(device_fd)
                    if exc.errno == errno.EBUSY:
                        break  # taken by someone else meanwhile: ask for another
                    if exc.errno != errno.EINVAL or not flags & LO_FLAGS_DIRECT_IO:
                        raise
        raise OSError(errno.EBUSY, "no free loop device after several attempts")
    finally:
        os.close(control)


def _config(image: Path, image_fd: int, flags: int) -> _LoopConfig:
    config = _LoopConfig(fd=image_fd, block_size=4096)
    config.info.lo_flags = flags
    name = str(image).encode()[: _LO_NAME_SIZE - 1]
    ctypes.memmove(config.info.lo_file_name, name, len(name))
    return config


def detach(device: str) -> None:
    """Detach `device` now, or (when still in use) as soon as its last user goes."""
    try:
        fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.ioctl(fd, LOOP_CLR_FD)
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: not attached (any more)
            raise
    finally:
        os.close(fd)
