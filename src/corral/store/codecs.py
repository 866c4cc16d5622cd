"""JSON forms of the structured columns of a workspace row (storage, secret env, network)."""

from __future__ import annotations

import base64
from typing import Any

from corral.engine.spec import NetworkSpec, SecretEnv, StorageSpec, VolumeAttachment


def storage_to_json(spec: StorageSpec) -> dict[str, Any]:
    return {
        "disk_mib": spec.disk_mib,
        "disk_path": spec.disk_path,
        "volumes": [
            {"volume": v.volume, "path": v.path, "readonly": v.readonly} for v in spec.volumes
        ],
        "template": spec.template,
        "rootfs_mib": spec.rootfs_mib,
    }


def storage_from_json(raw: dict[str, Any] | None) -> StorageSpec:
    if not raw:
        return StorageSpec()
    return StorageSpec(
        disk_mib=raw.get("disk_mib"),
        disk_path=raw.get("disk_path") or "/data",
        volumes=tuple(VolumeAttachment(**v) for v in raw.get("volumes") or ()),
        template=raw.get("template"),
        rootfs_mib=raw.get("rootfs_mib"),
    )


def secret_env_to_json(env: dict[str, SecretEnv]) -> dict[str, dict[str, str]]:
    out = {}
    for name, value in env.items():
        if value.sealed is not None:
            out[name] = {"sealed": base64.b64encode(value.sealed).decode()}
        else:
            out[name] = {"secret": value.ref or ""}
    return out


def secret_env_from_json(raw: dict[str, dict[str, str]] | None) -> dict[str, SecretEnv]:
    env = {}
    for name, value in (raw or {}).items():
        if "sealed" in value:
            env[name] = SecretEnv(sealed=base64.b64decode(value["sealed"]))
        else:
            env[name] = SecretEnv(ref=value["secret"])
    return env


def network_to_json(spec: NetworkSpec) -> dict[str, Any]:
    return {
        "ip": spec.ip,
        "internet": spec.internet,
        "egress": list(spec.egress),
        "ports": list(spec.ports),
        "api_access": spec.api_access,
    }


def network_from_json(raw: dict[str, Any] | None) -> NetworkSpec:
    if not raw:
        return NetworkSpec()
    return NetworkSpec(
        ip=raw.get("ip"),
        internet=bool(raw.get("internet")),
        egress=tuple(raw.get("egress") or ()),
        ports=tuple(raw.get("ports") or ()),
        api_access=bool(raw.get("api_access")),
    )
