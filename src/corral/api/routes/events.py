"""Events: query past events, or follow them live as server-sent events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from corral.api.routes.workspaces import Who, engine_of
from corral.engine.events import Event

router = APIRouter(prefix="/v1/events", tags=["events"])
KEEPALIVE_S = 15.0


class EventOut(BaseModel):
    id: int
    workspace_id: str | None
    type: str
    message: str
    data: dict[str, object]
    created_at: datetime


class EventList(BaseModel):
    events: list[EventOut]


def _out(event: Event) -> EventOut:
    return EventOut(
        id=event.id,
        workspace_id=event.workspace_id,
        type=event.type,
        message=event.message,
        data=event.data,
        created_at=event.created_at,
    )


def _workspace_id(request: Request, ref: str | None, owner: str) -> str | None:
    return engine_of(request).get(ref, owner).id if ref else None


@router.get("", response_model=EventList)
def list_events(
    request: Request,
    who: Who,
    workspace: str | None = None,
    since: datetime | None = None,
    after: Annotated[int | None, Query(ge=0, description="only events with a larger id")] = None,
    type: Annotated[list[str], Query()] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> EventList:
    events = engine_of(request).events.query(
        who.owner, _workspace_id(request, workspace, who.owner), since, after, type or None, limit
    )
    return EventList(events=[_out(e) for e in events])


@router.get("/stream", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})  # fmt: skip
async def stream_events(
    request: Request,
    who: Who,
    workspace: str | None = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> StreamingResponse:
    engine = engine_of(request)
    workspace_id = _workspace_id(request, workspace, who.owner)
    loop, queue = engine.events.subscribe()

    def wanted(event: Event) -> bool:
        return event.owner == who.owner and (workspace_id is None or
                                             event.workspace_id == workspace_id)  # fmt: skip

    async def feed() -> AsyncIterator[bytes]:
        try:
            last = after or 0
            if after is not None:
                for event in engine.events.query(who.owner, workspace_id, after_id=after):
                    last = event.id
                    yield _sse(event)
            while not await request.is_disconnected():
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                if event.id > last and wanted(event):
                    last = event.id
                    yield _sse(event)
        finally:
            engine.events.unsubscribe(loop, queue)

    return StreamingResponse(feed(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})  # fmt: skip


def _sse(event: Event) -> bytes:
    body = _out(event).model_dump_json()
    return f"id: {event.id}\nevent: {event.type}\ndata: {body}\n\n".encode()



