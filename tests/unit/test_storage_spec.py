"""Pure parts of disks, volumes and secret env: request validation, translation, storage
in the record, the kernel ABI constants."""

from __future__ import annotations

import ctypes
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from corral.api import inputs
from corral.api.schemas import WorkspaceCreate
from corral.drivers.storage import fscrypt, loop
from corral.engine import secret_env
from corral.engine.spec import (
    Limits,
    SecretEnv,
    SecretRef,
    SecretValue,
    StorageSpec,
    VolumeAttachment,
    WorkspaceRecord,
)
from corral.engine.states import State
from corral.secrets.keyring import Keyring
from corral.secrets.master import MasterKeyFile
from corral.store import Store, codecs
from corral.store.keys import KeyRows


def test_ioctl_numbers_match_the_kernel_headers() -> None:
    assert fscrypt.FS_IOC_SET_ENCRYPTION_POLICY == 0x800C6613
    assert fscrypt.FS_IOC_GET_ENCRYPTION_POLICY_EX == 0xC0096616
    assert fscrypt.FS_IOC_ADD_ENCRYPTION_KEY == 0xC0506617
    assert fscrypt.FS_IOC_REMOVE_ENCRYPTION_KEY_ALL_USERS == 0xC0406619
    assert fscrypt.FS_IOC_GET_ENCRYPTION_KEY_STATUS == 0xC080661A
    assert ctypes.sizeof(fscrypt._PolicyV2) == 24
    assert ctypes.sizeof(loop._LoopConfig) == 304


def test_env_secret_shapes() -> None:
    body = WorkspaceCreate(name="a", env={"A": "plain", "B": {"secret": "openai"},
                                          "C": {"value": "v", "secret": True},
                                          "D": {"value": "d", "secret": False}})  # fmt: skip
    values = inputs.env_values(body.env)
    assert values == {"A": "plain", "B": SecretRef("openai"), "C": SecretValue("v"), "D": "d"}
    assert "'v'" not in repr(body) and "'v'" not in repr(values["C"])  # never in a log line


@pytest.mark.parametrize(
    "env",
    [
        {"B": {"secret": "openai", "value": "x"}},  # both
        {"B": {"secret": True}},  # inline without a value
        {"B": {"secret": "bad name!"}},
        {"B": {"value": "x"}},  # `secret` is required
        {"B": {"value": "a\x00b", "secret": True}},
    ],
)
def test_env_secret_rejects(env: dict) -> None:
    with pytest.raises(ValidationError):
        WorkspaceCreate(name="a", env=env)


@pytest.mark.parametrize(
    "extra",
    [
        {"disk_mib": 8},  # below the minimum
        {"rootfs_mib": 8},
        {"rootfs_mib": -1},
        {"rootfs_mib": 1 << 40},
        {"disk_mib": 64, "disk_path": "relative"},
        {"disk_mib": 64, "disk_path": "/"},
        {"disk_mib": 64, "disk_path": "/proc/x"},
        {"disk_mib": 64, "disk_path": "/a/../b"},
        {"volumes": [{"name": "v", "path": "/dev"}]},
        {"disk_mib": 64, "volumes": [{"name": "v", "path": "/data"}]},  # two at one path
        {"template": "t", "image": "host"},
        {"volumes": [{"name": "v", "path": "/m", "mode": "rw"}]},
    ],
)
def test_storage_rejects(extra: dict) -> None:
    with pytest.raises(ValidationError):
        WorkspaceCreate(name="a", **extra)


def test_storage_spec_translation_and_round_trip() -> None:
    body = WorkspaceCreate(name="a", disk_mib=64, disk_path="/srv/data/",
                           volumes=[{"name": "v", "path": "/mnt/v", "readonly": True}])  # fmt: skip
    spec = inputs.storage_spec(body)
    assert spec == StorageSpec(64, "/srv/data", (VolumeAttachment("v", "/mnt/v", True),), None)
    assert codecs.storage_from_json(codecs.storage_to_json(spec)) == spec
    assert codecs.storage_from_json(None) == StorageSpec()


def test_secret_env_is_sealed_in_the_record(tmp_path: Path) -> None:
    keyring = Keyring(KeyRows(Store(f"sqlite:///{tmp_path / 'db'}")),
                      MasterKeyFile(tmp_path / "master.key", create=True))  # fmt: skip
    sealed = secret_env.seal(keyring, "ws1", {"K": SecretValue("v4lue"), "R": SecretRef("s")})
    assert sealed["R"] == SecretEnv(ref="s") and sealed["K"].sealed is not None
    stored = codecs.secret_env_to_json(sealed)
    assert "v4lue" not in str(stored)
    assert codecs.secret_env_from_json(stored) == sealed
    now = datetime.now(UTC)
    ws = WorkspaceRecord(id="ws1", owner="o", name="a", image="host", state=State.RUNNING,
                         command=None, env={}, limits=Limits(), restart="never", labels={},
                         created_at=now, updated_at=now, secret_env=sealed)  # fmt: skip
    assert secret_env.values(keyring, ws) == {"K": SecretValue("v4lue"), "R": SecretRef("s")}
    ws.id = "ws2"  # another workspace's data key cannot open it
    with pytest.raises(Exception, match="no key|cannot decrypt"):
        secret_env.values(keyring, ws)


def test_cli_volume_and_secret_env_options() -> None:
    import typer

    from corral.cli.secrets import parse_secret_env
    from corral.cli.volumes import parse_volume

    assert parse_volume("v:/mnt/v") == {"name": "v", "path": "/mnt/v", "readonly": False}
    assert parse_volume("v:/mnt/v:ro")["readonly"] is True
    assert parse_secret_env(["OPENAI_API_KEY=openai"]) == {"OPENAI_API_KEY": {"secret": "openai"}}
    for bad in ("v", "v:relative", "v:/m:xx"):
        with pytest.raises(typer.BadParameter):
            parse_volume(bad)
    with pytest.raises(typer.BadParameter):
        parse_secret_env(["NOVALUE"])
