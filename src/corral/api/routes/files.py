"""Files inside a workspace: read, write, list, stat, mkdir, delete (confined to its root)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from corral.api import schemas, views
from corral.api.routes.workspaces import Who, engine_of
from corral.drivers.storage.files import CHUNK, ConfinedFiles, write_fully
from corral.errors import TooLarge

router = APIRouter(prefix="/v1/workspaces", tags=["files"])
Path = Annotated[str, Query(min_length=1, max_length=4096, description="absolute path")]
MAX_UPLOAD = 1024 * 1024 * 1024


def _files(request: Request, ref: str, owner: str) -> ConfinedFiles:
    return ConfinedFiles(engine_of(request).root_dir(ref, owner))


@router.get("/{ref}/files", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})  # fmt: skip
def read_file(ref: str, path: Path, request: Request, who: Who) -> StreamingResponse:
    file, size = _files(request, ref, who.owner).open_read(path)

    def chunks() -> Iterator[bytes]:
        # Streamed: a workspace can make a huge (even sparse) file; the daemon holds 1 MiB.
        with file:
            while data := file.read(CHUNK):
                yield data

    # No Content-Length: the workspace may change the file while it is being sent.
    return StreamingResponse(chunks(), media_type="application/octet-stream",
                             headers={"X-File-Size": str(size)})  # fmt: skip


@router.put("/{ref}/files", response_model=schemas.FileEntry)
async def write_file(
    ref: str,
    path: Path,
    request: Request,
    who: Who,
    mode: Annotated[int | None, Query(ge=0, le=0o7777)] = None,
) -> schemas.FileEntry:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_UPLOAD:
        raise TooLarge(f"upload of {declared} bytes is over the {MAX_UPLOAD} byte limit")
    files = _files(request, ref, who.owner)
    file = await run_in_threadpool(files.open_write, path, mode)
    try:
        written = 0
        async for chunk in request.stream():
            written += len(chunk)
            if written > MAX_UPLOAD:
                raise TooLarge(f"upload is over the {MAX_UPLOAD} byte limit")
            await run_in_threadpool(write_fully, file, chunk, path)
        return views.file_entry(files.info(file, path))
    finally:
        file.close()



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
