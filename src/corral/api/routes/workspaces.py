"""Workspaces: create, get, list, lifecycle actions, destroy, logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse

from corral.api import inputs, schemas, views
from corral.api.auth import Principal, principal
from corral.engine.engine import Engine
from corral.engine.spec import Lifecycle, Limits
from corral.engine.states import State
from corral.errors import InvalidSpec
from corral.tenancy import children

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"])
Who = Annotated[Principal, Depends(principal)]

LOG_POLL_S = 0.25


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def _labels(pairs: list[str]) -> dict[str, str]:
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidSpec(f"label filter {pair!r} must look like key=value")
        labels[key] = value
    return labels


@router.post("", status_code=201, response_model=schemas.Workspace)
def create(body: schemas.WorkspaceCreate, request: Request, who: Who) -> schemas.Workspace:
    ws = engine_of(request).create(
        owner=who.owner,
        name=body.name,
        image=body.image,
        command=body.command,
        env=inputs.env_values(body.env),
        limits=Limits(cpu=body.cpu, memory_mib=body.memory_mib, pids=body.pids),
        ttl_seconds=body.ttl_seconds,
        restart=body.restart,
        labels=body.labels,
        lifecycle=Lifecycle(
            max_retries=body.max_retries,
            on_expire=body.on_expire,
            ttl_counts_paused=body.ttl_counts_paused,
            idle_timeout_seconds=body.idle_timeout_seconds,
        ),
        storage=inputs.storage_spec(body),
        network=inputs.network_spec(body),
        links=inputs.link_targets(body),
        isolation=body.isolation,
        extra=children.record_extra(
            body.child_policy.model_dump() if body.child_policy else None, body.api_access
        ),
    )
    return views.workspace(ws)


@router.get("", response_model=schemas.WorkspaceList)
def list_workspaces(
    request: Request,
    who: Who,
    state: schemas.State | None = None,
    label: Annotated[list[str], Query(description="key=value, repeatable")] = [],  # noqa: B006
) -> schemas.WorkspaceList:
    records = engine_of(request).list(
        who.owner, State(state) if state else None, _labels(label)
    )
    return schemas.WorkspaceList(workspaces=[views.workspace(ws) for ws in records])


@router.get("/{ref}", response_model=schemas.Workspace)
def get(ref: str, request: Request, who: Who) -> schemas.Workspace:
    return views.workspace(engine_of(request).get(ref, who.owner))


@router.patch("/{ref}", response_model=schemas.Workspace)
def update(ref: str, body: schemas.WorkspaceUpdate, request: Request, who: Who
           ) -> schemas.Workspace:  # fmt: skip
    engine = engine_of(request)
    limits = None
    if body.cpu is not None or body.memory_mib is not None or body.pids is not None:
        current = engine.get(ref, who.owner).limits
        limits = Limits(
            cpu=body.cpu if body.cpu is not None else current.cpu,
            memory_mib=body.memory_mib if body.memory_mib is not None else current.memory_mib,
            pids=body.pids if body.pids is not None else current.pids,
        )
    ws = engine.update(ref, who.owner, command=body.command, env=body.env, restart=body.restart,
                       labels=body.labels, limits=limits)  # fmt: skip
    return views.workspace(ws)


@router.post("/{ref}/timeout", response_model=schemas.Workspace)
def set_timeout(
    ref: str, body: schemas.SetTimeout, request: Request, who: Who
) -> schemas.Workspace:
    return views.workspace(engine_of(request).set_timeout(ref, who.owner, body.ttl_seconds))


@router.post("/{ref}/{action}", response_model=schemas.Workspace)
def act(
    ref: str,
    action: Literal["start", "stop", "pause", "resume"],
    request: Request,
    who: Who,
) -> schemas.Workspace:
    engine = engine_of(request)
    operation = {
        "start": engine.start,
        "stop": engine.stop,
        "pause": engine.pause,
        "resume": engine.resume,
    }[action]
    return views.workspace(operation(ref, who.owner))


@router.delete("/{ref}", response_model=schemas.Workspace)
def destroy(ref: str, request: Request, who: Who) -> schemas.Workspace:
    return views.workspace(engine_of(request).destroy(ref, who.owner))


@router.get("/{ref}/logs", response_class=PlainTextResponse)
async def logs(
    ref: str,
    request: Request,
    who: Who,
    tail: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    follow: bool = False,
) -> StreamingResponse:
    engine = engine_of(request)
    ws = engine.get(ref, who.owner)
    path = engine.log_path(ws.id)

    async def stream() -> AsyncIterator[bytes]:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            data = b""
        if tail is not None:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail:]) if tail else b""
            offset = path.stat().st_size if path.exists() else 0
        else:
            offset = len(data)
        yield data
        while follow and not await request.is_disconnected():
            await asyncio.sleep(LOG_POLL_S)
            try:
                with open(path, "rb") as f:
                    f.seek(offset)
                    more = f.read()
            except FileNotFoundError:
                return  # destroyed
            offset += len(more)
            if more:
                yield more

    return StreamingResponse(stream(), media_type="text/plain; charset=utf-8")
