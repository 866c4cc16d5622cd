"""E2B's control plane: create, list, inspect, time out, pause, connect to and kill sandboxes.

An E2B sandbox is a corral workspace. `templateID` names one of the caller's templates
(snapshots) or an image, and anything else runs on `host`; the template's name is kept in
the label `e2b.dev/template`, hidden from the metadata E2B clients see. `timeout` is the TTL
(300 s when absent, the SDK's default), `metadata` the labels, `envVars` the env, and
`autoPause` makes the TTL pause the sandbox instead of destroying it. A sandbox reaches the
internet unless `allow_internet_access` is false (or all egress is denied). MCP, volumes
and the like are ignored.

corral's states map onto E2B's two: `running` (and `creating`), and `paused` for a workspace
that is paused, stopped or failed, any of which `connect` brings back to running.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from corral.api.auth import Principal
from corral.api.schemas import ENV_NAME
from corral.compat.e2b import models
from corral.compat.e2b.access import SandboxTokens, api_principal
from corral.compat.e2b.errors import corral_error_handler, error_response
from corral.engine.engine import Engine
from corral.engine.spec import Lifecycle, NetworkSpec, StorageSpec, WorkspaceRecord
from corral.engine.states import State
from corral.errors import Conflict, CorralError, InvalidSpec, NotFound
from corral.metrics.sampler import Sampler, derive
from corral.metrics.series import Point

router = APIRouter()
log = logging.getLogger("corral.e2b")

# The envd protocol version corral speaks: new enough for everything implemented here (stdin
# control, octet-stream uploads, no per-call user), old enough that the SDK itself refuses
# what is not (file metadata, watch entries), with a clear message.
ENVD_VERSION = "0.5.7"
DEFAULT_TIMEOUT_S = 300
TEMPLATE_LABEL = "e2b.dev/template"
RESERVED_PREFIX = "e2b.dev/"
CLIENT_ID = "corral"
ALL_TRAFFIC = "0.0.0.0/0"
NEVER = datetime(9999, 12, 31, tzinfo=UTC)
MIB = 1024 * 1024
_STATES: dict[State, models.SandboxState] = {
    State.CREATING: "running",
    State.RUNNING: "running",
    State.PAUSED: "paused",
    State.STOPPED: "paused",
    State.FAILED: "paused",
}


def caller(request: Request) -> Principal:
    who = api_principal(request.app.state.engine.store, request.headers)
    request.state.principal = who  # for the audit log (corral.tenancy.audit)
    return who


Caller = Annotated[Principal, Depends(caller)]


def engine_of(request: Request) -> Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def tokens_of(request: Request) -> SandboxTokens:
    return request.app.state.tokens  # type: ignore[no-any-return]


def create_app(engine: Engine, tokens: SandboxTokens, metrics: Sampler | None) -> FastAPI:
    app = FastAPI(title="corral: E2B-compatible API", docs_url=None, redoc_url=None)
    app.state.engine = engine
    app.state.tokens = tokens
    app.state.metrics = metrics
    app.include_router(router)
    app.add_exception_handler(CorralError, corral_error_handler)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        return error_response(400, f"invalid request: {where}")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> Response:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        log.exception("unexpected error in the E2B API")
        return error_response(500, f"internal error: {type(exc).__name__}")

    return app


# -- translation --------------------------------------------------------------------------


def template_of(ws: WorkspaceRecord) -> str:
    return ws.labels.get(TEMPLATE_LABEL, ws.image)


def metadata_of(ws: WorkspaceRecord) -> dict[str, str]:
    return {k: v for k, v in ws.labels.items() if not k.startswith(RESERVED_PREFIX)}


def host_cpus() -> int:
    return os.cpu_count() or 1


def host_memory_mib() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MIB


def disk_bytes(engine: Engine) -> int:
    st = os.statvfs(engine.workspaces_dir)
    return st.f_blocks * st.f_frsize


def cpus_of(ws: WorkspaceRecord) -> int:
    return math.ceil(ws.limits.cpu) if ws.limits.cpu else host_cpus()


def sandbox(ws: WorkspaceRecord, tokens: SandboxTokens) -> models.Sandbox:
    """What the SDK needs to reach a sandbox it created or connected to."""
    return models.Sandbox(
        template_id=template_of(ws),
        sandbox_id=ws.id,
        client_id=CLIENT_ID,
        alias=template_of(ws),
        envd_version=ENVD_VERSION,
        envd_access_token=tokens.issue(ws.id),
        traffic_access_token=None,
    )


def detail(ws: WorkspaceRecord, engine: Engine) -> models.SandboxDetail:
    return models.SandboxDetail(
        template_id=template_of(ws),
        alias=template_of(ws),
        sandbox_id=ws.id,
        client_id=CLIENT_ID,
        started_at=ws.created_at,
        end_at=ws.expires_at or NEVER,
        cpu_count=cpus_of(ws),
        memory_mb=ws.limits.memory_mib or host_memory_mib(),
        disk_size_mb=disk_bytes(engine) // MIB,
        metadata=metadata_of(ws),
        state=_STATES[ws.state],
        envd_version=ENVD_VERSION,
    )


def metric(ws: WorkspaceRecord, point: Point, engine: Engine) -> models.SandboxMetric:
    cpus = cpus_of(ws)
    used_disk = (point.rootfs_used_bytes or 0) + (point.disk_used_bytes or 0)
    return models.SandboxMetric(
        timestamp=datetime.fromtimestamp(point.time, UTC),
        timestamp_unix=int(point.time),
        cpu_count=cpus,
        cpu_used_pct=round((point.cpu_percent or 0.0) / cpus, 2),  # of one core -> of all
        mem_used=int(point.memory_bytes or 0),
        mem_total=(ws.limits.memory_mib or host_memory_mib()) * MIB,
        mem_cache=0,
        disk_used=int(used_disk),
        disk_total=disk_bytes(engine),
    )


def parse_metadata(query: str | None) -> dict[str, str]:
    """`k=v&k2=v2` with each key and value URL-encoded once more, as the SDK sends it."""
    if not query:
        return {}
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return {urllib.parse.unquote(k): urllib.parse.unquote(v) for k, v in pairs}


def live(ws: WorkspaceRecord) -> bool:
    return ws.state in _STATES


# -- routes --------------------------------------------------------------------------------


@router.post("/sandboxes", status_code=201, response_model=models.Sandbox)
@router.post("/v2/sandboxes", status_code=201, response_model=models.Sandbox)
def create(body: models.NewSandbox, request: Request, who: Caller) -> models.Sandbox:
    engine = engine_of(request)
    env = body.env_vars or {}
    for name in env:
        if not ENV_NAME.match(name):
            raise InvalidSpec(f"env var name {name!r} must match [A-Za-z_][A-Za-z0-9_]*")
    image, storage = source(engine, body.template_id, who.owner)
    ws = engine.create(
        owner=who.owner,
        name=f"e2b-{secrets.token_hex(4)}",
        image=image,
        env=env,
        ttl_seconds=body.timeout or DEFAULT_TIMEOUT_S,
        labels={**(body.metadata or {}), TEMPLATE_LABEL: body.template_id},
        lifecycle=Lifecycle(on_expire="pause") if body.auto_pause else None,
        storage=storage,
        network=network(body),
    )
    return sandbox(ws, tokens_of(request))


def source(engine: Engine, template: str, owner: str) -> tuple[str, StorageSpec | None]:
    """What an E2B template names in corral: one of the owner's templates (snapshots), an
    image, or nothing corral knows, which runs on `host`."""
    try:
        engine.snapshots.get(template, owner)
    except NotFound:
        return (template if template in engine.images() else "host"), None
    return "host", StorageSpec(template=template)  # the template brings its own image


def network(body: models.NewSandbox) -> NetworkSpec:
    """E2B sandboxes reach the internet unless told otherwise (corral's default is the
    opposite). Denying all traffic but a few networks or domains is an egress allowlist."""
    allow = (body.network.allow_out if body.network else None) or []
    deny = (body.network.deny_out if body.network else None) or []
    if any(rule != ALL_TRAFFIC for rule in deny):
        raise InvalidSpec(f"corral can deny all egress ({ALL_TRAFFIC}), not parts of it",
                          hint="deny 0.0.0.0/0 and allow what the sandbox may reach")  # fmt: skip
    if deny:
        return NetworkSpec(internet=bool(allow), egress=tuple(allow))
    return NetworkSpec(internet=body.allow_internet_access is not False)


@router.get("/sandboxes", response_model=list[models.ListedSandbox])
def list_running(
    request: Request, who: Caller, metadata: str | None = None
) -> list[models.ListedSandbox]:
    engine = engine_of(request)
    records = engine.list(who.owner, State.RUNNING, parse_metadata(metadata))
    return [detail(ws, engine) for ws in records]


@router.get("/v2/sandboxes", response_model=list[models.ListedSandbox])
def list_sandboxes(
    request: Request,
    response: Response,
    who: Caller,
    metadata: str | None = None,
    state: str | None = None,
    template: str | None = None,
    started_after: Annotated[datetime | None, Query(alias="startedAfter")] = None,
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    next_token: Annotated[str | None, Query(alias="nextToken")] = None,
) -> list[models.ListedSandbox]:
    engine = engine_of(request)
    states = set(state.split(",")) if state else {"running", "paused"}
    records = [
        ws
        for ws in engine.list(who.owner, labels=parse_metadata(metadata))
        if live(ws)
        and _STATES[ws.state] in states
        and (template is None or template_of(ws) == template)
        and (started_after is None or ws.created_at >= started_after)
    ]
    records.sort(key=lambda ws: ws.created_at, reverse=order == "desc")
    offset = int(next_token) if next_token and next_token.isdigit() else 0
    end = offset + limit if limit else len(records)
    if end < len(records):
        response.headers["X-Next-Token"] = str(end)
    return [detail(ws, engine) for ws in records[offset:end]]


@router.get("/sandboxes/{sandbox_id}", response_model=models.SandboxDetail)
def get_sandbox(sandbox_id: str, request: Request, who: Caller) -> models.SandboxDetail:
    engine = engine_of(request)
    return detail(_live(engine, sandbox_id, who), engine)


@router.delete("/sandboxes/{sandbox_id}", status_code=204, response_class=Response)
def kill(sandbox_id: str, request: Request, who: Caller) -> Response:
    engine = engine_of(request)
    engine.destroy(_live(engine, sandbox_id, who).id, who.owner)
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/timeout", status_code=204, response_class=Response)
def set_timeout(
    sandbox_id: str, body: models.SetTimeout, request: Request, who: Caller
) -> Response:
    engine = engine_of(request)
    engine.set_timeout(_live(engine, sandbox_id, who).id, who.owner, body.timeout)
    return Response(status_code=204)


@router.get("/sandboxes/{sandbox_id}/metrics", response_model=list[models.SandboxMetric])
def get_metrics(
    sandbox_id: str,
    request: Request,
    who: Caller,
    start: int | None = None,
    end: int | None = None,
) -> list[models.SandboxMetric]:
    engine = engine_of(request)
    ws = _live(engine, sandbox_id, who)
    sampler: Sampler | None = request.app.state.metrics
    if sampler is None:
        return []
    points = [
        p for p in sampler.history(ws.id, since=start if start is not None else -math.inf)
        if end is None or p.time <= end
    ]  # fmt: skip
    if not points and ws.state == State.RUNNING and end is None:
        # Not sampled yet (a sandbox younger than one interval): read it now.
        points = [derive(None, sampler.read(ws, None), ws).point()]
    return [metric(ws, point, engine) for point in points]


@router.post("/sandboxes/{sandbox_id}/pause", status_code=204, response_class=Response)
def pause(sandbox_id: str, request: Request, who: Caller) -> Response:
    engine = engine_of(request)
    ws = _live(engine, sandbox_id, who)
    if ws.state != State.RUNNING:
        raise Conflict(f"sandbox {ws.id} is not running (it is {ws.state.value})")
    engine.pause(ws.id, who.owner)
    return Response(status_code=204)


@router.post("/sandboxes/{sandbox_id}/resume", status_code=201, response_model=models.Sandbox)
def resume(sandbox_id: str, body: models.Resume, request: Request, who: Caller) -> models.Sandbox:
    engine = engine_of(request)
    ws = _live(engine, sandbox_id, who)
    if _STATES[ws.state] == "running":
        raise Conflict(f"sandbox {ws.id} is already running")
    ws = _extend(engine, _wake(engine, ws), body.timeout or DEFAULT_TIMEOUT_S)
    return sandbox(ws, tokens_of(request))


@router.post("/sandboxes/{sandbox_id}/connect", response_model=models.Sandbox)
@router.post("/v2/sandboxes/{sandbox_id}/connect", response_model=models.Sandbox)
def connect(
    sandbox_id: str, body: models.Connect, request: Request, response: Response, who: Caller
) -> models.Sandbox:
    """Reach a sandbox, waking it if needed (then 201), and extend its timeout if asked."""
    engine = engine_of(request)
    ws = _live(engine, sandbox_id, who)
    timeout = body.timeout
    if _STATES[ws.state] == "paused":
        ws = _wake(engine, ws)
        response.status_code = 201
        timeout = timeout or DEFAULT_TIMEOUT_S
    if timeout is not None:
        ws = _extend(engine, ws, timeout)
    return sandbox(ws, tokens_of(request))


def _live(engine: Engine, sandbox_id: str, who: Principal) -> WorkspaceRecord:
    ws = engine.get(sandbox_id, who.owner)
    if not live(ws):
        raise NotFound(f"sandbox {sandbox_id} not found")
    return ws


def _wake(engine: Engine, ws: WorkspaceRecord) -> WorkspaceRecord:
    if ws.state == State.PAUSED:
        return engine.resume(ws.id, ws.owner)
    if ws.state in (State.STOPPED, State.FAILED):
        return engine.start(ws.id, ws.owner)
    return ws


def _extend(engine: Engine, ws: WorkspaceRecord, seconds: int) -> WorkspaceRecord:
    """Make the sandbox live at least `seconds` more: never shorten its timeout, and leave a
    workspace without a TTL (a permanent one) without; a TTL that already acted (paused the
    sandbox) is armed again."""
    if ws.ttl_seconds is None:
        return ws
    if ws.expires_at is None or ws.expires_at < datetime.now(UTC) + timedelta(seconds=seconds):
        return engine.set_timeout(ws.id, ws.owner, seconds)
    return ws
