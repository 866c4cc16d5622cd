"""envd's plain-HTTP routes: `/health`, and `/files` to download and upload whole files.

An upload is either one `application/octet-stream` body written to `?path=`, or a
multipart form whose `file` parts are each written to `?path=` (a single file) or to the
part's filename (several files in one request, the filename being the path).
"""

from __future__ import annotations

import posixpath
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from corral.compat.e2b.envd.sandbox import Sandboxes, resolve_path
from corral.drivers.storage.files import CHUNK, ConfinedFiles, write_fully
from corral.errors import InvalidSpec, TooLarge

MAX_UPLOAD = 1024 * 1024 * 1024


def sandboxes_of(request: Request) -> Sandboxes:
    return request.app.state.sandboxes  # type: ignore[no-any-return]


async def health(request: Request) -> Response:
    await run_in_threadpool(sandboxes_of(request).get, request.headers)
    return Response(status_code=204)


async def download(request: Request) -> Response:
    path = resolve_path(request.query_params.get("path", ""))

    def open_file() -> tuple[BinaryIO, int]:
        files = sandboxes_of(request).files_for(request.headers)
        if files.stat(path).type == "dir":
            raise InvalidSpec(f"path '{path}' is a directory")
        return files.open_read(path)

    file, size = await run_in_threadpool(open_file)

    def chunks() -> Iterator[bytes]:  # streamed: the daemon holds one chunk, not the file
        with file:
            while data := file.read(CHUNK):
                yield data

    return StreamingResponse(chunks(), media_type="application/octet-stream",
                             headers={"Content-Length": str(size)})  # fmt: skip


async def upload(request: Request) -> Response:
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD:
        raise TooLarge(f"an upload is limited to {MAX_UPLOAD} bytes")
    target = request.query_params.get("path")
    content_type = request.headers.get("content-type", "")
    files = await run_in_threadpool(sandboxes_of(request).files_for, request.headers)
    if content_type.startswith("application/octet-stream"):
        if not target:
            raise InvalidSpec("a raw body upload needs the path query parameter")
        paths = [resolve_path(target)]
        await _store(files, paths[0], _octets(request))
    elif content_type.startswith("multipart/"):
        async with request.form() as form:
            parts = [part for part in form.getlist("file") if isinstance(part, UploadFile)]
            paths = [resolve_path(target or part.filename or "") for part in parts]
            if len(set(paths)) != len(paths):
                raise InvalidSpec("several files of one upload go to the same path")
            for path, part in zip(paths, parts, strict=True):
                await _store(files, path, _part(part))
    else:
        raise InvalidSpec(f"unsupported content type {content_type!r}",
                          hint="send multipart/form-data or application/octet-stream")  # fmt: skip
    return JSONResponse([{"path": p, "name": posixpath.basename(p), "type": "file"} for p in paths])


async def _store(files: ConfinedFiles, path: str, chunks: AsyncIterator[bytes]) -> None:
    """Write a file as its chunks arrive: the daemon holds one chunk, not the upload."""
    file = await run_in_threadpool(files.open_write, path)
    try:
        async for chunk in chunks:
            await run_in_threadpool(write_fully, file, chunk, path)
    finally:
        file.close()


async def _part(part: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await part.read(CHUNK):
        yield chunk


async def _octets(request: Request) -> AsyncIterator[bytes]:
    """The request body, gunzipped if it says so, refused past MAX_UPLOAD bytes."""
    gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS) if gzipped else None
    total = 0
    async for received in request.stream():
        pending = received
        while pending:
            if inflater is None:
                chunk, pending = pending, b""
            else:  # a bounded piece at a time: a small body can inflate to a huge one
                chunk, pending = inflater.decompress(pending, CHUNK), inflater.unconsumed_tail
            total += len(chunk)
            if total > MAX_UPLOAD:
                raise TooLarge(f"an upload is limited to {MAX_UPLOAD} bytes")
            yield chunk
