"""Running commands inside a workspace: whole result, or streamed as server-sent events."""

from __future__ import annotations

import codecs
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from corral.api import schemas
from corral.api.routes.workspaces import Who, engine_of
from corral.drivers.runtime.base import ExecExit, ExecSpec, OutputChunk
from corral.engine.engine import as_argv

router = APIRouter(prefix="/v1/workspaces", tags=["exec"])


def _spec(body: schemas.ExecRequest) -> ExecSpec:
    return ExecSpec(
        argv=as_argv(body.command),
        env=body.env,
        cwd=body.cwd,
        stdin=body.stdin.encode() if body.stdin is not None else None,
        timeout=body.timeout,
    )


@router.post("/{ref}/exec", response_model=schemas.ExecResult)
async def exec_command(
    ref: str, body: schemas.ExecRequest, request: Request, who: Who
) -> schemas.ExecResult:
    out: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    result: ExecExit | None = None
    await run_in_threadpool(engine_of(request).ensure_running, ref, who.owner, "exec")
    async for item in engine_of(request).exec(ref, who.owner, _spec(body)):
        if isinstance(item, OutputChunk):
            out[item.stream].append(item.data)
        else:
            result = item
    assert result is not None
    return schemas.ExecResult(
        exit_code=result.exit_code,
        stdout=b"".join(out["stdout"]).decode(errors="replace"),
        stderr=b"".join(out["stderr"]).decode(errors="replace"),
        timed_out=result.timed_out,
        duration_ms=round(result.duration_ms, 3),
    )


def _event(name: str, payload: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n".encode()


@router.post(
    "/{ref}/exec/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def exec_stream(
    ref: str, body: schemas.ExecRequest, request: Request, who: Who
) -> StreamingResponse:
    engine = engine_of(request)
    # Fail with a status code before streaming starts; resumes a paused workspace.
    await run_in_threadpool(engine.ensure_running, ref, who.owner, "exec")
    decoders = {s: codecs.getincrementaldecoder("utf-8")("replace") for s in ("stdout", "stderr")}

    async def events() -> AsyncIterator[bytes]:
        async for item in engine.exec(ref, who.owner, _spec(body)):
            if isinstance(item, OutputChunk):
                text = decoders[item.stream].decode(item.data)
                if text:
                    yield _event(item.stream, {"data": text})
            else:
                for stream, decoder in decoders.items():
                    if rest := decoder.decode(b"", final=True):
                        yield _event(stream, {"data": rest})
                yield _event("exit", {"exit_code": item.exit_code, "timed_out": item.timed_out,
                                      "duration_ms": round(item.duration_ms, 3)})  # fmt: skip

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
