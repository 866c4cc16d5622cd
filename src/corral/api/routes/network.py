"""A workspace's reach, changed live: internet on or off, its egress allow-list, its ports."""

from __future__ import annotations

from fastapi import APIRouter, Request

from corral.api import schemas, views
from corral.api.routes.workspaces import Who, engine_of

router = APIRouter(prefix="/v1/workspaces", tags=["network"])


@router.post("/{ref}/network", response_model=schemas.Workspace)
def update_network(
    ref: str, body: schemas.NetworkUpdate, request: Request, who: Who
) -> schemas.Workspace:
    """Applies at once, without a restart; connections it no longer allows are cut."""
    ws = engine_of(request).networking.update(
        ref, who.owner, internet=body.internet, egress=body.egress, ports=body.ports
    )
    return views.workspace(ws)
