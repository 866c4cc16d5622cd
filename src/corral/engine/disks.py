"""Encrypted disks at the engine level: the `Disks` driver plus the keys in the keyring.

Every disk has its own random 64-byte key, stored only wrapped by the master key under
`disk:<disk id>`. Disk ids say whose disk it is: `ws-<workspace id>` (a workspace's own
disk), `vol-<volume id>`, `tpl-<template id>`. A disk is mounted, its key in the kernel,
from its creation to its erasure; after a host reboot the reconciler mounts it again.

Erasure is cryptographic: the key leaves the kernel, the image is deleted, and the wrapped
key is destroyed (securely deleted from the store). Without that key, any copy of the image
that survived anywhere (a backup, a snapshot of the host disk, unreclaimed blocks) is noise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from corral.drivers.storage.base import Disks
from corral.drivers.storage.fscrypt import KEY_SIZE
from corral.errors import CorralError
from corral.secrets.keyring import Keyring

log = logging.getLogger("corral.disks")

def workspace_disk(workspace_id: str) -> str:
    return f"ws-{workspace_id}"


def volume_disk(volume_id: str) -> str:
    return f"vol-{volume_id}"


def template_disk(template_id: str) -> str:
    return f"tpl-{template_id}"


def key_id(disk_id: str) -> str:
    return f"disk:{disk_id}"


class KeyedDisks:
    def __init__(self, disks: Disks, keyring: Keyring) -> None:
        self.driver = disks
        self.keyring = keyring

    def ensure(self, disk_id: str, size_mib: int) -> Path:
        """The disk's data directory, mounted and keyed; made empty if it does not exist."""
        if self.driver.exists(disk_id):
            return self.driver.mount(disk_id, self.keyring.get(key_id(disk_id)))
        key = self.keyring.get_or_create(key_id(disk_id), KEY_SIZE)
        return self.driver.create(disk_id, size_mib, key)

    def mount(self, disk_id: str) -> Path:
        return self.driver.mount(disk_id, self.keyring.get(key_id(disk_id)))

    def erase(self, disk_id: str) -> None:
        """Crypto-erase: key out of the kernel, image deleted, then the wrapped key destroyed."""
        self.driver.erase(disk_id)
        self.keyring.destroy(key_id(disk_id))

    def data_dir(self, disk_id: str) -> Path:
        return self.driver.data_dir(disk_id)

    def reconcile(self, expected: Mapping[str, int | None]) -> int:
        """Mount every expected disk (id -> size, None: must exist already); erase the rest."""
        removed = 0
        for disk_id, size in expected.items():
            try:
                if size is None:
                    self.mount(disk_id)
                else:
                    self.ensure(disk_id, size)
            except CorralError as exc:
                log.error("disk %s cannot be mounted: %s", disk_id, exc)
        present = set(self.driver.disks()) | set(self.driver.mounted())
        for disk_id in sorted(present - set(expected)):
            log.info("erasing stray disk %s", disk_id)
            self.erase(disk_id)
            removed += 1
        for leftover in self.driver.leftovers():
            self.driver.remove_leftover(leftover)
            removed += 1
        for kid in self.keyring.ids():
            if kid.startswith("disk:") and kid.removeprefix("disk:") not in expected:
                self.keyring.destroy(kid)  # its disk was erased; the key was not, yet
                removed += 1
        return removed
