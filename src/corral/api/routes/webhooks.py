"""Webhooks: subscribe a URL to events; inspect deliveries (incl. dead letters)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from corral.api.routes.workspaces import Who
from corral.engine.webhooks import Webhook, Webhooks

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: AnyHttpUrl
    events: list[Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]] = Field(
        default_factory=list, description="event types to send; empty: all"
    )
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 8


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    max_attempts: int
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="HMAC signing secret, shown only once")


class Delivery(BaseModel):
    id: int
    event_id: int
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    updated_at: datetime


def hooks(request: Request) -> Webhooks:
    return request.app.state.webhooks  # type: ignore[no-any-return]


def _out(hook: Webhook) -> WebhookOut:
    return WebhookOut(id=hook.id, url=hook.url, events=hook.event_types,
                      max_attempts=hook.max_attempts, created_at=hook.created_at)  # fmt: skip


@router.post("", status_code=201, response_model=WebhookCreated)
def create_webhook(body: WebhookCreate, request: Request, who: Who) -> WebhookCreated:
    hook, secret = hooks(request).create(who.owner, str(body.url), body.events, body.max_attempts)
    return WebhookCreated(**_out(hook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookOut])
def list_webhooks(request: Request, who: Who) -> list[WebhookOut]:
    return [_out(h) for h in hooks(request).list(who.owner)]


@router.delete("/{hook_id}", status_code=204, response_class=Response)
def delete_webhook(hook_id: str, request: Request, who: Who) -> Response:
    hooks(request).delete(who.owner, hook_id)
    return Response(status_code=204)


@router.get("/{hook_id}/deliveries", response_model=list[Delivery])
def deliveries(
    hook_id: str,
    request: Request,
    who: Who,
    status: Literal["pending", "delivered", "dead"] | None = None,
) -> list[Delivery]:
    return [Delivery(**row) for row in hooks(request).deliveries(who.owner, hook_id, status)]
