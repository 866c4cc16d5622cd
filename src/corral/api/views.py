"""Translate engine records into API response models."""

from __future__ import annotations

from corral.api import schemas
from corral.drivers.storage.files import FileInfo
from corral.engine.spec import WorkspaceRecord
from corral.engine.supervisor import CRASH_LOOP_RESTARTS


def workspace(ws: WorkspaceRecord) -> schemas.Workspace:
    return schemas.Workspace(
        id=ws.id,
        name=ws.name,
        image=ws.image,
        state=ws.state.value,
        command=ws.command,
        env_names=sorted(ws.env),
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
        crash_loop=int(ws.extra.get("consecutive_restarts", 0) or 0) >= CRASH_LOOP_RESTARTS,
        paused_reason=str(ws.extra["paused_reason"]) if ws.extra.get("paused_reason") else None,
        last_exit_code=ws.last_exit_code,
        last_exit_at=ws.last_exit_at,
        error=ws.error,
        runtime=ws.runtime,
    )


def file_entry(info: FileInfo) -> schemas.FileEntry:
    return schemas.FileEntry(
        name=info.name, path=info.path, type=info.type,  # type: ignore[arg-type]
        size=info.size, mode=info.mode, mtime=info.mtime,
    )  # fmt: skip
