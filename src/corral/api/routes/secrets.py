"""The owner's secrets: set, list (names only), delete. Values go in, never come out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from corral.api import schemas, views
from corral.api.routes.workspaces import Who, engine_of

router = APIRouter(prefix="/v1/secrets", tags=["secrets"])
Name = Annotated[str, Path(pattern=schemas.SECRET_NAME)]


@router.put("/{name}", response_model=schemas.Secret)
async def set_secret(
    name: Name, body: schemas.SecretPut, request: Request, who: Who
) -> schemas.Secret:
    secrets = engine_of(request).secrets
    return views.secret(await run_in_threadpool(secrets.set, who.owner, name, body.value))


@router.get("", response_model=schemas.SecretList)
def list_secrets(request: Request, who: Who) -> schemas.SecretList:
    infos = engine_of(request).secrets.list(who.owner)
    return schemas.SecretList(secrets=[views.secret(info) for info in infos])


@router.delete("/{name}", status_code=204, response_class=Response)
def delete_secret(name: Name, request: Request, who: Who) -> Response:
    engine_of(request).secrets.delete(who.owner, name)
    return Response(status_code=204)
