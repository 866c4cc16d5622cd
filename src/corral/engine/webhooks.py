"""Webhooks: events POSTed to subscriber URLs, HMAC-signed, retried, dead-lettered.

Each matching event becomes a delivery row (so a daemon restart loses none). A worker
thread sends due deliveries; a failure is retried after 1 s, 2 s, 4 s... and after
`max_attempts` the delivery is marked `dead` and kept for inspection.

Signature: `X-Corral-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
with `X-Corral-Timestamp` (unix seconds), so a receiver can reject replays.

The signing secret is shown once and kept sealed (AES-GCM) under a data key of its own,
`webhook:<id>`, wrapped by the master key; deleting the webhook destroys that key.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, insert, select, update

from corral.engine.events import Event
from corral.errors import NotFound
from corral.secrets.keyring import Keyring
from corral.store import Store
from corral.store import tables as t
from corral.store.store import utcnow

log = logging.getLogger("corral.webhooks")

RETRY_BASE_S = 1.0
RETRY_CAP_S = 300.0
SEND_TIMEOUT_S = 5.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def retry_delay(attempts: int) -> float:
    return min(RETRY_BASE_S * 2 ** max(attempts - 1, 0), RETRY_CAP_S)


@dataclass(frozen=True)
class Webhook:
    id: str
    owner: str
    url: str
    event_types: list[str]
    max_attempts: int
    created_at: datetime


class Webhooks:
    def __init__(self, store: Store, keyring: Keyring, interval: float = 0.2) -> None:
        self.store = store
        self.keyring = keyring
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._http = httpx.Client(timeout=SEND_TIMEOUT_S, follow_redirects=False)

    # -- subscriptions ---------------------------------------------------------------------

    def create(self, owner: str, url: str, event_types: list[str], max_attempts: int
               ) -> tuple[Webhook, str]:  # fmt: skip
        """Register a webhook; returns it and its signing secret (shown once)."""
        secret = "whsec_" + secrets.token_urlsafe(32)
        hook = Webhook(secrets.token_hex(8), owner, url, event_types, max_attempts, utcnow())
        sealed = self._seal(hook.id, secret)
        with self.store.writing() as conn:
            conn.execute(insert(t.webhooks).values(
                id=hook.id, owner=owner, url=url, secret=sealed, event_types=event_types,
                max_attempts=max_attempts, created_at=hook.created_at))  # fmt: skip
        return hook, secret

    def list(self, owner: str) -> list[Webhook]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(t.webhooks).where(t.webhooks.c.owner == owner)).mappings()
            return [_webhook(r) for r in rows]

    def delete(self, owner: str, hook_id: str) -> None:
        with self.store.writing() as conn:
            done = conn.execute(delete(t.webhooks).where(
                t.webhooks.c.id == hook_id, t.webhooks.c.owner == owner))  # fmt: skip
            if not done.rowcount:
                raise NotFound(f"no webhook {hook_id!r}")
            conn.execute(delete(t.webhook_deliveries).where(
                t.webhook_deliveries.c.webhook_id == hook_id))  # fmt: skip
        self.keyring.destroy(_key_id(hook_id))

    def deliveries(
        self, owner: str, hook_id: str, status: str | None
    ) -> builtins.list[dict[str, Any]]:
        if not any(h.id == hook_id for h in self.list(owner)):
            raise NotFound(f"no webhook {hook_id!r}")
        query = select(t.webhook_deliveries).where(t.webhook_deliveries.c.webhook_id == hook_id)
        if status:
            query = query.where(t.webhook_deliveries.c.status == status)
        with self.store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query.order_by(t.webhook_deliveries.c.id))
                    .mappings()]  # fmt: skip

    # -- delivery --------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Events listener: queue one delivery per matching webhook."""
        with self.store.engine.connect() as conn:
            hooks = conn.execute(select(t.webhooks.c.id, t.webhooks.c.event_types)
                                 .where(t.webhooks.c.owner == event.owner)).all()  # fmt: skip
        wanted = [h.id for h in hooks if not h.event_types or event.type in h.event_types]
        if not wanted:
            return
        payload = json.dumps({
            "id": event.id, "type": event.type, "workspace_id": event.workspace_id,
            "message": event.message, "data": event.data,
            "created_at": event.created_at.isoformat(),
        })  # fmt: skip
        now = utcnow()
        with self.store.writing() as conn:
            for hook_id in wanted:
                conn.execute(insert(t.webhook_deliveries).values(
                    webhook_id=hook_id, event_id=event.id, payload=payload, status="pending",
                    attempts=0, next_attempt_at=now, updated_at=now))  # fmt: skip
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=SEND_TIMEOUT_S + 1)
        self._http.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.deliver_due()
            except Exception:
                log.exception("webhook delivery round failed")

    def deliver_due(self) -> None:
        now = utcnow()
        d, w = t.webhook_deliveries, t.webhooks
        query = (select(d, w.c.url, w.c.secret, w.c.max_attempts)
                 .join(w, w.c.id == d.c.webhook_id)
                 .where(d.c.status == "pending", d.c.next_attempt_at <= now)
                 .order_by(d.c.id).limit(100))  # fmt: skip
        with self.store.engine.connect() as conn:
            due = [dict(r) for r in conn.execute(query).mappings()]
        for row in due:
            if self._stop.is_set():
                return
            self._attempt(row)

    def _attempt(self, row: dict[str, Any]) -> None:
        body = row["payload"].encode()
        timestamp = str(int(time.time()))
        error = None
        try:
            response = self._http.post(row["url"], content=body, headers={
                "Content-Type": "application/json",
                "X-Corral-Timestamp": timestamp,
                "X-Corral-Signature": sign(self._unseal(row["webhook_id"], row["secret"]),
                                           timestamp, body),  # fmt: skip
                "X-Corral-Delivery": str(row["id"]),
            })  # fmt: skip
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = row["attempts"] + 1
        now = utcnow()
        if error is None:
            values: dict[str, Any] = {"status": "delivered"}
        elif attempts >= row["max_attempts"]:
            values = {"status": "dead"}
            log.warning("webhook delivery %s dead after %d attempts: %s", row["id"], attempts,
                        error)  # fmt: skip
        else:
            values = {"next_attempt_at": now + timedelta(seconds=retry_delay(attempts))}
        values.update(attempts=attempts, last_error=error, updated_at=now)
        query = update(t.webhook_deliveries).where(t.webhook_deliveries.c.id == row["id"])
        with self.store.writing() as conn:
            conn.execute(query.values(**values))


    # -- the signing secret, sealed at rest ------------------------------------------------

    def _seal(self, hook_id: str, secret: str) -> str:
        blob = self.keyring.seal(_key_id(hook_id), secret, _context(hook_id))
        return SEALED + base64.b64encode(blob).decode()

    def _unseal(self, hook_id: str, stored: str) -> str:
        if not stored.startswith(SEALED):
            return stored  # made before secrets were sealed; `seal_legacy` seals it at start
        blob = base64.b64decode(stored.removeprefix(SEALED))
        return self.keyring.unseal(_key_id(hook_id), blob, _context(hook_id))

    def seal_legacy(self) -> int:
        """Seal the secrets that an older corral stored as they were; how many it sealed."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(t.webhooks.c.id, t.webhooks.c.secret)).all()
        legacy = [(hook_id, secret) for hook_id, secret in rows if not secret.startswith(SEALED)]
        for hook_id, secret in legacy:
            with self.store.writing() as conn:
                conn.execute(update(t.webhooks).where(t.webhooks.c.id == hook_id)
                             .values(secret=self._seal(hook_id, secret)))  # fmt: skip
        return len(legacy)


SEALED = "sealed:"


def _key_id(hook_id: str) -> str:
    return f"webhook:{hook_id}"


def _context(hook_id: str) -> str:
    return f"webhook {hook_id} signing secret"


def _webhook(row: Any) -> Webhook:
    return Webhook(row["id"], row["owner"], row["url"], row["event_types"], row["max_attempts"],
                   row["created_at"])  # fmt: skip
