"""The audit log: who did what to what, and how it ended, for every mutating API call.

One ASGI middleware around the whole app (E2B's API included) records each POST, PUT,
PATCH and DELETE once its response is done, whatever the route and whether it succeeded:
time, tenant, key prefix, action (method and route), target (path parameters, plus the id
of what a create made) and the status. Routes do nothing for it; a new route is audited by
being there. The caller is known from the authentication dependency, which leaves the
`Principal` in the request's state; a call that failed to authenticate is logged with no
tenant and the prefix of the key it presented.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.store.tenancy import TenancyRows
from corral.tenancy.scopes import tenant_of

log = logging.getLogger("corral.audit")

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PRINCIPAL = "principal"  # the key in the request state where authentication leaves the caller
_BODY_LIMIT = 64 * 1024  # a response body is read for the created id only up to this size
_PREFIX_LENGTH = 10


class AuditLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._rows: TenancyRows | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        app = scope.get("app")
        state = scope.setdefault("state", {})  # shared with request.state downstream
        started = time.perf_counter()
        when = datetime.now(UTC)
        response: dict[str, Any] = {"status": 500, "json": False, "body": bytearray()}

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                headers = dict(message.get("headers") or [])
                response["json"] = headers.get(b"content-type", b"").startswith(
                    b"application/json"
                )
            elif message["type"] == "http.response.body" and response["json"]:
                if len(response["body"]) < _BODY_LIMIT:
                    response["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, recording)
        finally:
            entry = _entry(scope, state, when, response, time.perf_counter() - started)
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._write, app, entry)

    def _write(self, app: Any, entry: dict[str, Any]) -> None:
        try:
            if self._rows is None:
                self._rows = TenancyRows(app.state.store)
            self._rows.insert_audit(**entry)
        except Exception:  # the call itself is done; losing its record must not fail it
            log.exception("could not write the audit record of %s", entry.get("action"))


def _entry(
    scope: Scope, state: dict[str, Any], when: datetime, response: dict[str, Any], seconds: float
) -> dict[str, Any]:
    who = state.get(PRINCIPAL)
    route = scope.get("route")
    template = getattr(route, "path", None) or scope.get("path", "")
    target: dict[str, Any] = dict(scope.get("path_params") or {})
    created = _created_id(response)
    if created:
        target["created"] = created
    return {
        "time": when,
        "tenant": tenant_of(who.owner) if who else None,
        "owner": who.owner if who else None,
        "key_prefix": who.prefix if who else _presented_prefix(scope),
        "action": f"{scope['method']} {scope.get('root_path', '')}{template}"[:200],
        "target": json.dumps(target, sort_keys=True) if target else None,
        "status": response["status"],
        "duration_ms": round(seconds * 1000, 3),
    }


def _created_id(response: dict[str, Any]) -> str | None:
    if not response["json"] or response["status"] != 201:  # 201 Created
        return None
    try:
        body = json.loads(bytes(response["body"]))
    except ValueError:
        return None
    value = body.get("id") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _presented_prefix(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            token = value.decode(errors="replace").partition(" ")[2].strip()
            return token[:_PREFIX_LENGTH] or None
    return None
