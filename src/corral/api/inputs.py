"""Translate request bodies into the engine's values (the inverse of `views`)."""

from __future__ import annotations

from corral.api import schemas
from corral.engine.spec import (
    EnvValue,
    LinkTarget,
    NetworkSpec,
    SecretRef,
    SecretValue,
    StorageSpec,
    VolumeAttachment,
)


def env_values(env: dict[str, str | schemas.EnvSecret]) -> dict[str, EnvValue]:
    values: dict[str, EnvValue] = {}
    for name, value in env.items():
        if isinstance(value, str):
            values[name] = value
        elif isinstance(value.secret, str):
            values[name] = SecretRef(value.secret)
        elif value.secret:
            values[name] = SecretValue(value.value or "")
        else:
            values[name] = value.value or ""
    return values


def storage_spec(body: schemas.WorkspaceCreate) -> StorageSpec:
    return StorageSpec(
        disk_mib=body.disk_mib,
        disk_path=body.disk_path,
        volumes=tuple(VolumeAttachment(v.name, v.path, v.readonly) for v in body.volumes),
        template=body.template,
        rootfs_mib=body.rootfs_mib,
    )


def network_spec(body: schemas.WorkspaceCreate) -> NetworkSpec:
    return NetworkSpec(internet=bool(body.internet), egress=tuple(body.egress),
                       ports=tuple(body.ports), api_access=body.api_access)  # fmt: skip


def link_targets(body: schemas.WorkspaceCreate) -> list[LinkTarget]:
    return [LinkTarget(link.to, link.port, link.protocol) for link in body.links]
