"""Translate engine records into API response models."""

from __future__ import annotations

from corral.api import schemas
from corral.drivers.runtime.isolation import level_of
from corral.drivers.storage.files import FileInfo
from corral.engine.spec import (
    LinkRecord,
    TemplateRecord,
    VolumeAttachment,
    VolumeRecord,
    WorkspaceRecord,
)
from corral.engine.supervisor import CRASH_LOOP_RESTARTS
from corral.secrets.tenant import SecretInfo
from corral.tenancy import children


def workspace(ws: WorkspaceRecord) -> schemas.Workspace:
    return schemas.Workspace(
        id=ws.id,
        name=ws.name,
        image=ws.image,
        state=ws.state.value,
        command=ws.command,
        env_names=sorted({*ws.env, *ws.secret_env}),
        cpu=ws.limits.cpu,
        memory_mib=ws.limits.memory_mib,
        pids=ws.limits.pids,
        ttl_seconds=ws.ttl_seconds,
        expires_at=ws.expires_at,
        restart=ws.restart,  # type: ignore[arg-type]
        labels=ws.labels,
        created_at=ws.created_at,
        updated_at=ws.updated_at,
        max_retries=ws.lifecycle.max_retries,
        on_expire=ws.lifecycle.on_expire,  # type: ignore[arg-type]
        ttl_counts_paused=ws.lifecycle.ttl_counts_paused,
        idle_timeout_seconds=ws.lifecycle.idle_timeout_seconds,
        restart_count=ws.restart_count,
        crash_loop=int(str(ws.extra.get("consecutive_restarts") or 0)) >= CRASH_LOOP_RESTARTS,
        paused_reason=str(ws.extra["paused_reason"]) if ws.extra.get("paused_reason") else None,
        last_exit_code=ws.last_exit_code,
        last_exit_at=ws.last_exit_at,
        error=ws.error,
        runtime=ws.runtime,
        secret_env_names=sorted(ws.secret_env),
        disk_mib=ws.storage.disk_mib,
        disk_path=ws.storage.disk_path if ws.storage.disk_mib is not None else None,
        rootfs_mib=ws.storage.rootfs_mib,
        volumes=[schemas.VolumeMount(name=a.volume, path=a.path, readonly=a.readonly)
                 for a in ws.storage.volumes],  # fmt: skip
        template=ws.storage.template,
        ip=ws.network.ip,
        internet=ws.network.internet,
        egress=list(ws.network.egress),
        ports=list(ws.network.ports),
        api_access=ws.network.api_access,
        isolation=level_of(ws.runtime),  # type: ignore[arg-type]
        child_policy=schemas.ChildPolicy(**children.policy_of(ws).to_json())
        if children.POLICY_KEY in ws.extra else None,
    )


def link(record: LinkRecord, names: dict[str, str]) -> schemas.Link:
    """`names`: workspace id -> name, for the two ends."""
    return schemas.Link(  # type: ignore[call-arg]  # `source` is populated by name
        id=record.id, source=record.source, to=record.target,
        from_name=names.get(record.source, ""), to_name=names.get(record.target, ""),
        port=record.port, protocol=record.protocol,  # type: ignore[arg-type]
        created_at=record.created_at,
    )  # fmt: skip


def volume(record: VolumeRecord, users: list[tuple[WorkspaceRecord, VolumeAttachment]]) -> (
    schemas.Volume
):
    return schemas.Volume(
        id=record.id, name=record.name, size_mib=record.size_mib, created_at=record.created_at,
        attached=[schemas.VolumeUser(workspace_id=ws.id, workspace_name=ws.name, path=a.path,
                                     readonly=a.readonly) for ws, a in users],
    )  # fmt: skip


def template(record: TemplateRecord) -> schemas.Template:
    return schemas.Template(
        id=record.id, name=record.name, image=record.image, layers=len(record.layers),
        disk_mib=record.disk_mib, disk_path=record.disk_path, source=record.source,
        created_at=record.created_at, duration_ms=record.duration_ms,
    )  # fmt: skip


def secret(info: SecretInfo) -> schemas.Secret:
    return schemas.Secret(name=info.name, created_at=info.created_at, updated_at=info.updated_at)


def file_entry(info: FileInfo) -> schemas.FileEntry:
    return schemas.FileEntry(
        name=info.name, path=info.path, type=info.type,  # type: ignore[arg-type]
        size=info.size, mode=info.mode, mtime=info.mtime,
    )  # fmt: skip
