"""Every API call as data: the request to send and how to read its answer.

The sync and async clients differ only in how they send a `Call` and wait for it; paths,
parameters, bodies and parsing live here once, as pure functions.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Literal, TypedDict, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from corral.api.schemas import (
    MasterKeyRotation,
    RestartPolicy,
    Secret,
    SecretList,
    State,
    Template,
    TemplateList,
    Volume,
    VolumeList,
    WorkspaceList,
)
from corral.client.connection import Connection
from corral.client.models import (
    Event,
    ExecResult,
    FileEntry,
    Info,
    MetricsSummary,
    WorkspaceMetrics,
    WorkspaceModel,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Command = list[str] | str
Action = Literal["start", "stop", "pause", "resume"]

DEFAULT_EXEC_TIMEOUT = 60.0
# The HTTP request may outlive the command's own timeout by this much: the server answers
# a command that timed out with a result, and the client should wait for that answer.
EXEC_GRACE_SECONDS = 30.0

_FILE_ENTRIES = TypeAdapter(list[FileEntry])
_EVENTS = TypeAdapter(list[Event])


class WorkspaceSpec(TypedDict, total=False):
    """What `workspaces.create` accepts besides the name; unset means the server's default."""

    image: str
    command: Command | None
    # A value is a string, or a secret: {"value": "...", "secret": True} (kept encrypted)
    # or {"secret": "name"} (one of your secrets, see `client.secrets`).
    env: dict[str, str | dict[str, str | bool]] | None
    cpu: float | None
    memory_mib: int | None
    pids: int | None
    ttl_seconds: int | None
    restart: RestartPolicy
    labels: dict[str, str] | None
    max_retries: int | None
    on_expire: Literal["destroy", "pause", "stop"]
    ttl_counts_paused: bool
    idle_timeout_seconds: int | None
    disk_mib: int | None  # an encrypted persistent disk of this size, at disk_path
    disk_path: str
    rootfs_mib: int | None  # a hard cap on what is written outside the disk (ENOSPC past it)
    volumes: list[VolumeMount] | None
    template: str | None  # start from this template (a snapshot), by name or id
    # The private network (air-gapped unless asked): see README "Private network".
    internet: bool | None  # default: off, or on when egress is given
    egress: list[str] | None  # with internet: only these IPv4 networks and domain names
    ports: list[int] | None  # published, at /v1/workspaces/{id}/ports/{port}/ with a key
    api_access: bool  # CORRAL_URL and CORRAL_TOKEN inside, and a way to the API
    links: list[LinkTo] | None  # private links to existing workspaces
    isolation: Literal["container", "gvisor"]  # gvisor: a user-space kernel of its own
    # With api_access: what its token may create (max_children, max_ttl_seconds, internet,
    # isolation); see corral.api.schemas.ChildPolicy.
    child_policy: dict[str, object] | None


class LinkTo(TypedDict, total=False):
    to: str  # a workspace's name or id
    port: int
    protocol: Literal["tcp", "udp"]


class VolumeMount(TypedDict, total=False):
    name: str  # the volume's name or id
    path: str
    readonly: bool


class ExecOptions(TypedDict, total=False):
    """How to run a command: extra environment, working directory, stdin, timeout (s)."""

    env: dict[str, str] | None
    cwd: str | None
    stdin: str | None
    timeout: float | None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: object = None
    content: bytes | None = None
    timeout: float | None = None  # seconds; None = the connection's default
    stream: bool = False  # the body arrives for as long as it takes: no read timeout

    def to_httpx(self, connection: Connection) -> httpx.Request:
        read = None if self.stream else self.timeout or connection.timeout
        timeout = httpx.Timeout(connection.timeout, read=read)
        return httpx.Request(
            self.method,
            connection.url + self.path,
            params=self.params,
            json=self.json,
            content=self.content,
            headers=connection.headers,
            extensions={"timeout": timeout.as_dict()},
        )


@dataclass(frozen=True)
class Call(Generic[T]):
    request: Request
    parse: Callable[[httpx.Response], T]


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate_json(response.content)


def _workspace_path(ref: str, *rest: str) -> str:
    return "/".join(["/v1/workspaces", quote(ref, safe=""), *rest])


def sandbox_name() -> str:
    return f"sandbox-{secrets.token_hex(4)}"


# -- daemon ---------------------------------------------------------------------------


def health() -> Call[str]:
    return Call(Request("GET", "/v1/health"), lambda response: str(response.json()["status"]))


def info() -> Call[Info]:
    return Call(Request("GET", "/v1/info"), _model(Info))


# -- workspaces -----------------------------------------------------------------------


def create_workspace(name: str, spec: WorkspaceSpec) -> Call[WorkspaceModel]:
    body = {"name": name, **{key: value for key, value in spec.items() if value is not None}}
    return Call(Request("POST", "/v1/workspaces", json=body), _model(WorkspaceModel))


def list_workspaces(
    state: State | None = None, labels: dict[str, str] | None = None
) -> Call[list[WorkspaceModel]]:
    params: list[tuple[str, str]] = [("state", state)] if state else []
    params += [("label", f"{key}={value}") for key, value in (labels or {}).items()]
    return Call(
        Request("GET", "/v1/workspaces", params=tuple(params)),
        lambda response: WorkspaceList.model_validate_json(response.content).workspaces,
    )


def get_workspace(ref: str) -> Call[WorkspaceModel]:
    return Call(Request("GET", _workspace_path(ref)), _model(WorkspaceModel))


def change_state(ref: str, action: Action) -> Call[WorkspaceModel]:
    return Call(Request("POST", _workspace_path(ref, action)), _model(WorkspaceModel))


class WorkspaceChanges(TypedDict, total=False):
    """What `workspace.update` can change; a change to command/env/restart/limits restarts it."""

    command: Command
    env: dict[str, str]
    restart: RestartPolicy
    labels: dict[str, str]
    cpu: float
    memory_mib: int
    pids: int


def update_workspace(ref: str, changes: WorkspaceChanges) -> Call[WorkspaceModel]:
    return Call(Request("PATCH", _workspace_path(ref), json=dict(changes)), _model(WorkspaceModel))


def destroy_workspace(ref: str) -> Call[WorkspaceModel]:
    return Call(Request("DELETE", _workspace_path(ref)), _model(WorkspaceModel))


# -- commands -------------------------------------------------------------------------


def _exec_request(ref: str, command: Command, options: ExecOptions, stream: bool) -> Request:
    timeout = options.get("timeout") or DEFAULT_EXEC_TIMEOUT
    body = {key: value for key, value in options.items() if value is not None}
    body.update(command=command, timeout=timeout)
    path = _workspace_path(ref, "exec", "stream") if stream else _workspace_path(ref, "exec")
    return Request("POST", path, json=body, timeout=timeout + EXEC_GRACE_SECONDS, stream=stream)


def exec_command(ref: str, command: Command, options: ExecOptions) -> Call[ExecResult]:
    return Call(_exec_request(ref, command, options, stream=False), _model(ExecResult))


def exec_stream(ref: str, command: Command, options: ExecOptions) -> Request:
    """The streaming exec; decode its lines with `corral.client.streams.ExecStreamDecoder`."""
    return _exec_request(ref, command, options, stream=True)


def logs(ref: str, tail: int | None = None) -> Call[str]:
    params = (("tail", str(tail)),) if tail is not None else ()
    return Call(Request("GET", _workspace_path(ref, "logs"), params=params), lambda r: r.text)


def follow_logs(ref: str, tail: int | None = None) -> Request:
    params = (("tail", str(tail)),) if tail is not None else ()
    return Request(
        "GET", _workspace_path(ref, "logs"), params=(*params, ("follow", "true")), stream=True
    )


# -- files ----------------------------------------------------------------------------


def read_file(ref: str, path: str) -> Call[bytes]:
    request = Request("GET", _workspace_path(ref, "files"), params=(("path", path),))
    return Call(request, lambda response: response.content)


def write_file(ref: str, path: str, data: bytes | str, mode: int | None = None) -> Call[FileEntry]:
    params = (("path", path),) + ((("mode", str(mode)),) if mode is not None else ())
    content = data.encode() if isinstance(data, str) else data
    request = Request("PUT", _workspace_path(ref, "files"), params=params, content=content)
    return Call(request, _model(FileEntry))


def list_files(ref: str, path: str) -> Call[list[FileEntry]]:
    request = Request("GET", _workspace_path(ref, "files", "list"), params=(("path", path),))
    return Call(request, lambda response: _FILE_ENTRIES.validate_python(response.json()["entries"]))


def stat_file(ref: str, path: str) -> Call[FileEntry]:
    request = Request("GET", _workspace_path(ref, "files", "stat"), params=(("path", path),))
    return Call(request, _model(FileEntry))


def make_dir(ref: str, path: str, parents: bool = True) -> Call[FileEntry]:
    body = {"path": path, "parents": parents}
    return Call(
        Request("POST", _workspace_path(ref, "files", "mkdir"), json=body), _model(FileEntry)
    )


def remove_file(ref: str, path: str, recursive: bool = False) -> Call[None]:
    params = (("path", path),) + ((("recursive", "true"),) if recursive else ())
    return Call(Request("DELETE", _workspace_path(ref, "files"), params=params), lambda _: None)


# -- events ---------------------------------------------------------------------------


def _event_params(workspace: str | None, types: list[str] | None, after: int | None
                  ) -> tuple[tuple[str, str], ...]:  # fmt: skip
    params: list[tuple[str, str]] = []
    if workspace:
        params.append(("workspace", workspace))
    params += [("type", t) for t in types or ()]
    if after is not None:
        params.append(("after", str(after)))
    return tuple(params)


def list_events(
    workspace: str | None = None, types: list[str] | None = None, after: int | None = None,
    limit: int = 1000,
) -> Call[list[Event]]:  # fmt: skip
    params = (*_event_params(workspace, types, after), ("limit", str(limit)))
    return Call(Request("GET", "/v1/events", params=params),
                lambda r: _EVENTS.validate_python(r.json()["events"]))  # fmt: skip


def follow_events(workspace: str | None = None, after: int | None = None) -> Request:
    """The live event stream; decode its lines with `streams.EventStreamDecoder`."""
    return Request("GET", "/v1/events/stream", params=_event_params(workspace, None, after),
                   stream=True)  # fmt: skip


# -- metrics --------------------------------------------------------------------------

Since = str | datetime | timedelta


def _since(since: Since) -> str:
    """The API's `since`: an ISO time, or a duration back from now such as `15m`."""
    if isinstance(since, timedelta):
        return f"{since.total_seconds():g}s"
    if isinstance(since, datetime):
        return since.isoformat()
    return since


def workspace_metrics(ref: str, since: Since | None = None) -> Call[WorkspaceMetrics]:
    params = (("since", _since(since)),) if since is not None else ()
    return Call(Request("GET", _workspace_path(ref, "metrics"), params=params),
                _model(WorkspaceMetrics))  # fmt: skip


def metrics_summary(points: int = 60) -> Call[MetricsSummary]:
    return Call(Request("GET", "/v1/metrics/summary", params=(("points", str(points)),)),
                _model(MetricsSummary))  # fmt: skip


# -- secrets, volumes, snapshots --------------------------------------------------------


def set_secret(name: str, value: str) -> Call[Secret]:
    request = Request("PUT", f"/v1/secrets/{quote(name, safe='')}", json={"value": value})
    return Call(request, _model(Secret))


def list_secrets() -> Call[list[Secret]]:
    return Call(
        Request("GET", "/v1/secrets"),
        lambda response: SecretList.model_validate_json(response.content).secrets,
    )


def delete_secret(name: str) -> Call[None]:
    return Call(Request("DELETE", f"/v1/secrets/{quote(name, safe='')}"), lambda _: None)


def create_volume(name: str, size_mib: int) -> Call[Volume]:
    body = {"name": name, "size_mib": size_mib}
    return Call(Request("POST", "/v1/volumes", json=body), _model(Volume))


def list_volumes() -> Call[list[Volume]]:
    return Call(
        Request("GET", "/v1/volumes"),
        lambda response: VolumeList.model_validate_json(response.content).volumes,
    )


def get_volume(ref: str) -> Call[Volume]:
    return Call(Request("GET", f"/v1/volumes/{quote(ref, safe='')}"), _model(Volume))


def delete_volume(ref: str) -> Call[Volume]:
    return Call(Request("DELETE", f"/v1/volumes/{quote(ref, safe='')}"), _model(Volume))


# Copying a workspace can take a while: its files and its whole disk are copied.
COPY_TIMEOUT_SECONDS = 600.0


def snapshot(ref: str, name: str) -> Call[Template]:
    request = Request("POST", _workspace_path(ref, "snapshot"), json={"name": name},
                      timeout=COPY_TIMEOUT_SECONDS)  # fmt: skip
    return Call(request, _model(Template))


def fork(ref: str, name: str) -> Call[WorkspaceModel]:
    request = Request("POST", _workspace_path(ref, "fork"), json={"name": name},
                      timeout=COPY_TIMEOUT_SECONDS)  # fmt: skip
    return Call(request, _model(WorkspaceModel))


def list_templates() -> Call[list[Template]]:
    return Call(
        Request("GET", "/v1/templates"),
        lambda response: TemplateList.model_validate_json(response.content).templates,
    )


def get_template(ref: str) -> Call[Template]:
    return Call(Request("GET", f"/v1/templates/{quote(ref, safe='')}"), _model(Template))


def delete_template(ref: str) -> Call[Template]:
    return Call(Request("DELETE", f"/v1/templates/{quote(ref, safe='')}"), _model(Template))


def rotate_master_key() -> Call[MasterKeyRotation]:
    return Call(Request("POST", "/v1/admin/rotate-master-key"), _model(MasterKeyRotation))
