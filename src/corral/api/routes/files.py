"""Files inside a workspace: read, write, list, stat, mkdir, delete (confined to its root)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from corral.api import schemas, views
from corral.api.routes.workspaces import Who, engine_of
from corral.drivers.storage.files import ConfinedFiles

router = APIRouter(prefix="/v1/workspaces", tags=["files"])
Path = Annotated[str, Query(min_length=1, max_length=4096, description="absolute path")]
MAX_UPLOAD = 1024 * 1024 * 1024


def _files(request: Request, ref: str, owner: str) -> ConfinedFiles:
    return ConfinedFiles(engine_of(request).root_dir(ref, owner))


@router.get("/{ref}/files", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})  # fmt: skip
def read_file(ref: str, path: Path, request: Request, who: Who) -> Response:
    data = _files(request, ref, who.owner).read(path)
    return Response(data, media_type="application/octet-stream")


@router.put("/{ref}/files", response_model=schemas.FileEntry)
async def write_file(
    ref: str,
    path: Path,
    request: Request,
    who: Who,
    mode: Annotated[int | None, Query(ge=0, le=0o7777)] = None,
) -> schemas.FileEntry:
    data = await request.body()
    files = _files(request, ref, who.owner)
    return views.file_entry(await run_in_threadpool(files.write, path, data, mode))


@router.delete("/{ref}/files", status_code=204, response_class=Response)
def delete_file(
    ref: str, path: Path, request: Request, who: Who, recursive: bool = False
) -> Response:
    _files(request, ref, who.owner).remove(path, recursive)
    return Response(status_code=204)


@router.get("/{ref}/files/list", response_model=schemas.FileList)
def list_dir(ref: str, path: Path, request: Request, who: Who) -> schemas.FileList:
    entries = _files(request, ref, who.owner).list(path)
    return schemas.FileList(path=path, entries=[views.file_entry(e) for e in entries])


@router.get("/{ref}/files/stat", response_model=schemas.FileEntry)
def stat_file(ref: str, path: Path, request: Request, who: Who) -> schemas.FileEntry:
    return views.file_entry(_files(request, ref, who.owner).stat(path))


@router.post("/{ref}/files/mkdir", response_model=schemas.FileEntry)
def make_dir(ref: str, body: schemas.MakeDir, request: Request, who: Who) -> schemas.FileEntry:
    return views.file_entry(_files(request, ref, who.owner).mkdir(body.path, body.parents))
