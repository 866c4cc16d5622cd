"""Events: every state change, restart, exit, expiry... stored, queryable and streamed live.

`Events.emit` writes the event to the store and wakes every live subscriber (SSE streams),
so a client following `/v1/events/stream` sees it without polling the database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral.engine.spec import WorkspaceRecord
from corral.store import Store
from corral.store.store import utcnow

log = logging.getLogger("corral.events")


@dataclass(frozen=True)
class Event:
    id: int
    owner: str
    workspace_id: str | None
    type: str
    message: str
    data: dict[str, Any]
    created_at: datetime


class Events:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self._guard = threading.Lock()
        # Called synchronously for every event (e.g. webhooks queue their deliveries).
        self.listeners: list[Callable[[Event], None]] = []

    def emit(
        self, owner: str, workspace_id: str | None, type: str, message: str, **data: Any
    ) -> Event:
        created = utcnow()
        event_id = self.store.insert_event(
            owner=owner, workspace_id=workspace_id, type=type, message=message, data=data,
            created_at=created,
        )  # fmt: skip
        event = Event(event_id, owner, workspace_id, type, message, data, created)
        log.info("event %s %s: %s", type, workspace_id or "-", message)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not break the operation that emitted
                log.exception("event listener failed")
        with self._guard:
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            except RuntimeError:  # that loop is closed: the subscriber is gone
                self.unsubscribe(loop, queue)
        return event

    def about(self, ws: WorkspaceRecord, type: str, message: str, **data: Any) -> Event:
        """An event of workspace `ws`, its message prefixed with the workspace's name."""
        return self.emit(ws.owner, ws.id, type, f"{ws.name}: {message}", **data)

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[Event](maxsize=10_000))
        with self._guard:
            self._subscribers.add(entry)
        return entry

    def unsubscribe(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Event]) -> None:
        with self._guard:
            self._subscribers.discard((loop, queue))

    def query(
        self,
        owner: str | None,
        workspace_id: str | None = None,
        since: datetime | None = None,
        after_id: int | None = None,
        types: list[str] | None = None,
        limit: int = 1000,
    ) -> list[Event]:
        rows = self.store.list_events(owner, workspace_id, since, after_id, types, limit)
        return [Event(**row) for row in rows]
