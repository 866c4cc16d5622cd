"""Published ports: a workspace's TCP port, reachable only through this authenticated proxy.

`/v1/workspaces/{ref}/ports/{port}/{path}` forwards the request (method, path, query, body,
headers except the caller's API key) to `http://<workspace ip>:<port>/<path>` over the
private network and streams the answer back. Nothing else outside the workspace network can
reach a workspace: the hub admits the daemon's connections to published ports only.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from corral.api.routes.workspaces import Who, engine_of
from corral.errors import Unreachable

router = APIRouter(prefix="/v1/workspaces", tags=["network"])

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Per-connection headers (RFC 9110 7.6.1), and what must not travel to the workspace.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailer", "transfer-encoding", "upgrade"}  # fmt: skip
_NOT_FORWARDED = _HOP_BY_HOP | {"authorization", "host", "cookie"}
TIMEOUT = httpx.Timeout(30.0, connect=5.0)


@router.api_route("/{ref}/ports/{port}", methods=METHODS, include_in_schema=False)
@router.api_route("/{ref}/ports/{port}/{path:path}", methods=METHODS)
async def proxy(
    ref: str, port: int, request: Request, who: Who, path: str = ""
) -> StreamingResponse:
    engine = engine_of(request)
    ws = await run_in_threadpool(engine.ensure_running, ref, who.owner, "reach a port")
    base = engine.networking.published(ws, port)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _NOT_FORWARDED}
    client = httpx.AsyncClient(timeout=TIMEOUT)
    upstream = client.build_request(
        request.method, f"{base}/{path}", headers=headers, params=request.query_params,
        content=request.stream(),
    )
    try:
        response = await client.send(upstream, stream=True)
    except httpx.HTTPError as exc:
        await client.aclose()
        hint = "is a server listening on 0.0.0.0 in the workspace?"
        raise Unreachable(f"nothing answered on port {port} of {ws.name!r}: {exc}",
                          hint=hint) from None

    async def close() -> None:
        await response.aclose()
        await client.aclose()

    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        headers={k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP},
        background=BackgroundTask(close),
    )
