"""Snapshots of workspaces into templates, forks of workspaces, and the templates themselves."""

from __future__ import annotations

from fastapi import APIRouter, Request

from corral.api import schemas, views
from corral.api.routes.workspaces import Who, engine_of

router = APIRouter(tags=["snapshots"])


@router.post("/v1/workspaces/{ref}/snapshot", status_code=201, response_model=schemas.Template)
def snapshot(
    ref: str, body: schemas.SnapshotRequest, request: Request, who: Who
) -> schemas.Template:
    return views.template(engine_of(request).snapshots.snapshot(ref, who.owner, body.name))


@router.post("/v1/workspaces/{ref}/fork", status_code=201, response_model=schemas.Workspace)
def fork(ref: str, body: schemas.ForkRequest, request: Request, who: Who) -> schemas.Workspace:
    return views.workspace(engine_of(request).snapshots.fork(ref, who.owner, body.name))


@router.get("/v1/templates", response_model=schemas.TemplateList)
def list_templates(request: Request, who: Who) -> schemas.TemplateList:
    records = engine_of(request).snapshots.list(who.owner)
    return schemas.TemplateList(templates=[views.template(t) for t in records])


@router.get("/v1/templates/{ref}", response_model=schemas.Template)
def get_template(ref: str, request: Request, who: Who) -> schemas.Template:
    return views.template(engine_of(request).snapshots.get(ref, who.owner))


@router.delete("/v1/templates/{ref}", response_model=schemas.Template)
def delete_template(ref: str, request: Request, who: Who) -> schemas.Template:
    return views.template(engine_of(request).snapshots.delete(ref, who.owner))
