"""The blocking client: `Client` and the `Workspace` handles it returns.

Thin on purpose: requests and parsing come from `calls`, stream decoding from `streams`;
this module only sends and waits. `aio` is its asyncio counterpart, method for method.
"""

from __future__ import annotations

import builtins
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx
from pydantic import PrivateAttr

from corral.api.schemas import MasterKeyRotation, Secret, State, Template, Volume
from corral.client import calls, errors
from corral.client.calls import (
    Call,
    Command,
    ExecOptions,
    Request,
    Since,
    WorkspaceChanges,
    WorkspaceSpec,
)
from corral.client.connection import DEFAULT_TIMEOUT, resolve
from corral.client.models import (
    GONE,
    Event,
    ExecResult,
    FileEntry,
    Info,
    MetricsSummary,
    OutputChunk,
    WorkspaceFields,
    WorkspaceMetrics,
    WorkspaceModel,
)
from corral.client.streams import EventStreamDecoder, ExecStreamDecoder
from corral.errors import Conflict, NotFound

T = TypeVar("T")


class Client:
    """A connection to a corral daemon.

    `url` and `api_key` default to `$CORRAL_URL` and `$CORRAL_API_KEY`, then to the local
    daemon and its admin key file. Close it, or use it as a context manager.
    """

    def __init__(
        self, url: str | None = None, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.connection = resolve(url, api_key, timeout)
        self.workspaces = Workspaces(self)
        self.events = Events(self)
        self.secrets = Secrets(self)
        self.volumes = Volumes(self)
        self.templates = Templates(self)
        self._http = httpx.Client()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def deploy(self, directory: str, name: str, command: str | None = None, **options: Any
               ) -> Workspace:  # fmt: skip
        """Deploy (or redeploy) a directory as a permanent workspace; see `client.deploy`."""
        from corral.client.deploy import deploy

        return deploy(self, directory, name, command, **options)

    def health(self) -> str:
        return self._send(calls.health())

    def info(self) -> Info:
        return self._send(calls.info())

    def rotate_master_key(self) -> MasterKeyRotation:
        """Re-wrap every key under a new master key (admin keys only); data is untouched."""
        return self._send(calls.rotate_master_key())

    def metrics_summary(self, points: int = 60) -> MetricsSummary:
        """Totals over your workspaces, each one's latest sample and last `points` of history."""
        return self._send(calls.metrics_summary(points))

    @contextmanager
    def sandbox(
        self, ttl: int | None = 60, name: str | None = None, **spec: Unpack[WorkspaceSpec]
    ) -> Iterator[Workspace]:
        """A temporary workspace, destroyed when the block ends (or when its TTL runs out)."""
        spec["ttl_seconds"] = ttl
        with self.workspaces.create(name or calls.sandbox_name(), **spec) as workspace:
            yield workspace

    # -- sending --------------------------------------------------------------------------

    @contextmanager
    def _open(self, request: Request) -> Iterator[httpx.Response]:
        """The response to `request`, open for reading; an error status is raised here."""
        try:
            response = self._http.send(request.to_httpx(self.connection), stream=True)
            try:
                if response.is_error:
                    raise errors.from_response(response.status_code, response.read())
                yield response
            finally:
                response.close()
        except httpx.TransportError as exc:
            raise errors.from_transport(exc, self.connection.url) from None

    def _send(self, call: Call[T]) -> T:
        with self._open(call.request) as response:
            response.read()
            return call.parse(response)

    def _lines(self, request: Request) -> Generator[str, None, None]:
        with self._open(request) as response:
            yield from response.iter_lines()

    def _text(self, request: Request) -> Generator[str, None, None]:
        with self._open(request) as response:
            yield from response.iter_text()


class Events:
    """`client.events`: what happened, and what happens next as it happens."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list(self, workspace: str | None = None, types: builtins.list[str] | None = None,
             after: int | None = None, limit: int = 1000) -> builtins.list[Event]:  # fmt: skip
        return self._client._send(calls.list_events(workspace, types, after, limit))

    def follow(self, workspace: str | None = None, after: int | None = None
               ) -> Generator[Event, None, None]:  # fmt: skip
        """Events as they happen (after `after`, if given), until the caller stops."""
        decoder = EventStreamDecoder()
        for line in self._client._lines(calls.follow_events(workspace, after)):
            if (event := decoder.feed(line)) is not None:
                yield event


class Workspaces:
    """`client.workspaces`: create, find and list workspaces."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, name: str, **spec: Unpack[WorkspaceSpec]) -> Workspace:
        return Workspace.bind(self._client._send(calls.create_workspace(name, spec)), self._client)

    def get(self, ref: str) -> Workspace:
        """The workspace with this id or name."""
        return Workspace.bind(self._client._send(calls.get_workspace(ref)), self._client)

    def list(
        self, state: State | None = None, labels: dict[str, str] | None = None
    ) -> builtins.list[Workspace]:
        records = self._client._send(calls.list_workspaces(state, labels))
        return [Workspace.bind(record, self._client) for record in records]


class Workspace(WorkspaceFields):
    """One workspace: its API fields as attributes, its verbs as methods.

    As a context manager it destroys the workspace on exit.
    """

    _client: Client = PrivateAttr()

    @classmethod
    def bind(cls, record: WorkspaceModel, client: Client) -> Workspace:
        workspace = cls.model_validate(record.model_dump())
        workspace._client = client
        return workspace

    @property
    def files(self) -> Files:
        return Files(self._client, self.id)

    def exec(self, command: Command, **options: Unpack[ExecOptions]) -> ExecResult:
        """Run `command` (an argv list, or a string for /bin/sh -c) and wait for it."""
        return self._client._send(calls.exec_command(self.id, command, options))

    def exec_stream(
        self, command: Command, **options: Unpack[ExecOptions]
    ) -> Generator[OutputChunk | ExecResult, None, None]:
        """Run `command`, yielding its output as it comes and, last, the `ExecResult`."""
        decoder = ExecStreamDecoder()
        for line in self._client._lines(calls.exec_stream(self.id, command, options)):
            event = decoder.feed(line)
            if event is not None:
                yield event
            if decoder.result is not None:
                return
        decoder.finish()

    def logs(self, tail: int | None = None) -> str:
        """What the main command has printed so far (the last `tail` lines if given)."""
        return self._client._send(calls.logs(self.id, tail))

    def metrics(self, since: Since | None = None) -> WorkspaceMetrics:
        """The latest sample, active anomalies, and the history since `since` (a datetime,
        a timedelta, or `"15m"`; default the last hour)."""
        return self._client._send(calls.workspace_metrics(self.id, since))

    def follow_logs(self, tail: int | None = None) -> Generator[str, None, None]:
        """The main command's output, then more as it is printed, until the caller stops."""
        return self._client._text(calls.follow_logs(self.id, tail))

    def start(self) -> Workspace:
        return self._change(calls.change_state(self.id, "start"))

    def stop(self) -> Workspace:
        return self._change(calls.change_state(self.id, "stop"))

    def pause(self) -> Workspace:
        return self._change(calls.change_state(self.id, "pause"))

    def resume(self) -> Workspace:
        return self._change(calls.change_state(self.id, "resume"))

    def destroy(self) -> Workspace:
        return self._change(calls.destroy_workspace(self.id))

    def refresh(self) -> Workspace:
        return self._change(calls.get_workspace(self.id))

    def snapshot(self, name: str) -> Template:
        """Save this workspace's files and disk as a template to create workspaces from."""
        return self._client._send(calls.snapshot(self.id, name))

    def fork(self, name: str) -> Workspace:
        """An independent copy of this workspace (files, disk, env), running."""
        return Workspace.bind(self._client._send(calls.fork(self.id, name)), self._client)

    def update(self, **changes: Unpack[WorkspaceChanges]) -> Workspace:
        """Change the spec; a change to command/env/restart/limits restarts the workspace."""
        return self._change(calls.update_workspace(self.id, changes))

    def _change(self, call: Call[WorkspaceModel]) -> Workspace:
        self._update(self._client._send(call))
        return self

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.state in GONE:
            return
        try:
            self.destroy()
        except NotFound:
            pass
        except Conflict:
            # Destroyed meanwhile (its TTL ran out, or by someone else): what we wanted anyway.
            if self.refresh().state not in GONE:
                raise


class Files:
    """`workspace.files`: the workspace's filesystem, by absolute path."""

    def __init__(self, client: Client, ref: str) -> None:
        self._client = client
        self._ref = ref

    def read(self, path: str) -> bytes:
        return self._client._send(calls.read_file(self._ref, path))

    def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return self.read(path).decode(encoding)

    def write(self, path: str, data: bytes | str, mode: int | None = None) -> FileEntry:
        """Create or replace the file at `path` (and its parent directories)."""
        return self._client._send(calls.write_file(self._ref, path, data, mode))

    def list(self, path: str) -> builtins.list[FileEntry]:
        return self._client._send(calls.list_files(self._ref, path))

    def stat(self, path: str) -> FileEntry:
        return self._client._send(calls.stat_file(self._ref, path))

    def mkdir(self, path: str, parents: bool = True) -> FileEntry:
        return self._client._send(calls.make_dir(self._ref, path, parents))

    def remove(self, path: str, recursive: bool = False) -> None:
        self._client._send(calls.remove_file(self._ref, path, recursive))


class Secrets:
    """`client.secrets`: your named secrets; values go in and are never read back."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def set(self, name: str, value: str) -> Secret:
        return self._client._send(calls.set_secret(name, value))

    def list(self) -> builtins.list[Secret]:
        return self._client._send(calls.list_secrets())

    def delete(self, name: str) -> None:
        self._client._send(calls.delete_secret(name))


class Volumes:
    """`client.volumes`: encrypted volumes that outlive the workspaces they are attached to."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(self, name: str, size_mib: int) -> Volume:
        return self._client._send(calls.create_volume(name, size_mib))

    def get(self, ref: str) -> Volume:
        return self._client._send(calls.get_volume(ref))

    def list(self) -> builtins.list[Volume]:
        return self._client._send(calls.list_volumes())

    def delete(self, ref: str) -> Volume:
        """Delete the volume by cryptographic erasure (refused while it is attached)."""
        return self._client._send(calls.delete_volume(ref))


class Templates:
    """`client.templates`: snapshots of workspaces (see `workspace.snapshot`)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def get(self, ref: str) -> Template:
        return self._client._send(calls.get_template(ref))

    def list(self) -> builtins.list[Template]:
        return self._client._send(calls.list_templates())

    def delete(self, ref: str) -> Template:
        return self._client._send(calls.delete_template(ref))
