"""Private links: `from` may open connections to `to` on one port. Create, list, get, delete.

Links apply live (no restart) and vanish when either end is destroyed. Both ends belong to
the caller. Links can also be declared when a workspace is created (`links=[...]`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from corral.api import schemas, views
from corral.api.routes.workspaces import Who, engine_of
from corral.engine.spec import LinkRecord

router = APIRouter(prefix="/v1/links", tags=["network"])


def _views(request: Request, links: list[LinkRecord]) -> list[schemas.Link]:
    store = engine_of(request).store
    ids = {link.source for link in links} | {link.target for link in links}
    names = {wid: store.get_workspace(wid).name for wid in ids}  # ends may be in other scopes
    return [views.link(link, names) for link in links]


@router.post("", status_code=201, response_model=schemas.Link)
def create_link(body: schemas.LinkCreate, request: Request, who: Who) -> schemas.Link:
    link = engine_of(request).networking.create_link(
        who.owner, body.source, body.to, body.port, body.protocol
    )
    return _views(request, [link])[0]


@router.get("", response_model=schemas.LinkList)
def list_links(request: Request, who: Who, workspace: str | None = None) -> schemas.LinkList:
    """Every link of the caller, or only those from or to `workspace` (name or id)."""
    links = engine_of(request).networking.list_links(who.owner, workspace)
    return schemas.LinkList(links=_views(request, links))


@router.get("/{link_id}", response_model=schemas.Link)
def get_link(link_id: str, request: Request, who: Who) -> schemas.Link:
    link = engine_of(request).networking.get_link(who.owner, link_id)
    return _views(request, [link])[0]


@router.delete("/{link_id}", status_code=204, response_class=Response)
def delete_link(link_id: str, request: Request, who: Who) -> Response:
    """New connections are refused at once; open ones are cut."""
    engine_of(request).networking.delete_link(who.owner, link_id)
    return Response(status_code=204)
