"""envd's plain-HTTP routes: `/health`, and `/files` to download and upload whole files.

An upload is either one `application/octet-stream` body written to `?path=`, or a
multipart form whose `file` parts are each written to `?path=` (a single file) or to the
part's filename (several files in one request, the filename being the path).
"""

from __future__ import annotations

import posixpath
import zlib

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from corral.compat.e2b.envd.sandbox import Sandboxes, resolve_path
from corral.errors import CorralError, InvalidSpec

MAX_UPLOAD = 1024 * 1024 * 1024


class TooLarge(CorralError):
    status_code = 413
    code = "too_large"


def sandboxes_of(request: Request) -> Sandboxes:
    return request.app.state.sandboxes  # type: ignore[no-any-return]


async def health(request: Request) -> Response:
    await run_in_threadpool(sandboxes_of(request).get, request.headers)
    return Response(status_code=204)


async def download(request: Request) -> Response:
    path = resolve_path(request.query_params.get("path", ""))

    def read() -> bytes:
        files = sandboxes_of(request).files_for(request.headers)
        if files.stat(path).type == "dir":
            raise InvalidSpec(f"path '{path}' is a directory")
        return files.read(path)

    return Response(await run_in_threadpool(read), media_type="application/octet-stream")


async def upload(request: Request) -> Response:
    uploads = await _uploads(request)
    paths = [path for path, _ in uploads]
    if len(set(paths)) != len(paths):
        raise InvalidSpec("several files of one upload go to the same path")

    def write() -> None:
        files = sandboxes_of(request).files_for(request.headers)
        for path, data in uploads:
            files.write(path, data)

    await run_in_threadpool(write)
    return JSONResponse([{"path": p, "name": posixpath.basename(p), "type": "file"} for p in paths])


async def _uploads(request: Request) -> list[tuple[str, bytes]]:
    """(path, content) of each file the request uploads."""
    if int(request.headers.get("content-length") or 0) > MAX_UPLOAD:
        raise TooLarge(f"an upload is limited to {MAX_UPLOAD} bytes")
    target = request.query_params.get("path")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/octet-stream"):
        if not target:
            raise InvalidSpec("a raw body upload needs the path query parameter")
        return [(resolve_path(target), await _body(request))]
    if not content_type.startswith("multipart/"):
        raise InvalidSpec(f"unsupported content type {content_type!r}",
                          hint="send multipart/form-data or application/octet-stream")  # fmt: skip
    uploads = []
    async with request.form() as form:
        for part in form.getlist("file"):
            if isinstance(part, UploadFile):
                path = resolve_path(target or part.filename or "")
                uploads.append((path, await part.read()))
    return uploads


async def _body(request: Request) -> bytes:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_UPLOAD:
            raise TooLarge(f"an upload is limited to {MAX_UPLOAD} bytes")
    if request.headers.get("content-encoding", "").lower() == "gzip":
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        data = bytearray(inflater.decompress(data, MAX_UPLOAD + 1))
        if len(data) > MAX_UPLOAD or inflater.unconsumed_tail:
            raise TooLarge(f"an upload is limited to {MAX_UPLOAD} bytes, uncompressed")
    return bytes(data)
