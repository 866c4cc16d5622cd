"""The asyncio client: `AsyncClient` and its `AsyncWorkspace` handles.

The same surface as `corral.client.sync`, awaitable; requests, parsing and stream
decoding are the shared ones from `calls` and `streams`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TypeVar, Unpack

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


class AsyncClient:
    """A connection to a corral daemon, for asyncio code; see `corral.Client`."""

    def __init__(
        self, url: str | None = None, api_key: str | None = None, timeout: float = DEFAULT_TIMEOUT
    ) -> None:
        self.connection = resolve(url, api_key, timeout)
        self.workspaces = AsyncWorkspaces(self)
        self.events = AsyncEvents(self)
        self.secrets = AsyncSecrets(self)
        self.volumes = AsyncVolumes(self)
        self.templates = AsyncTemplates(self)
        self._http = httpx.AsyncClient()

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def health(self) -> str:
        return await self._send(calls.health())

    async def info(self) -> Info:
        return await self._send(calls.info())

    async def rotate_master_key(self) -> MasterKeyRotation:
        """Re-wrap every key under a new master key (admin keys only); data is untouched."""
        return await self._send(calls.rotate_master_key())

    async def metrics_summary(self, points: int = 60) -> MetricsSummary:
        """Totals over your workspaces, each one's latest sample and last `points` of history."""
        return await self._send(calls.metrics_summary(points))

    @asynccontextmanager
    async def sandbox(
        self, ttl: int | None = 60, name: str | None = None, **spec: Unpack[WorkspaceSpec]
    ) -> AsyncIterator[AsyncWorkspace]:
        """A temporary workspace, destroyed when the block ends (or when its TTL runs out)."""
        spec["ttl_seconds"] = ttl
        async with await self.workspaces.create(name or calls.sandbox_name(), **spec) as workspace:
            yield workspace

    # -- sending --------------------------------------------------------------------------

    @asynccontextmanager
    async def _open(self, request: Request) -> AsyncIterator[httpx.Response]:
        """The response to `request`, open for reading; an error status is raised here."""
        try:
            response = await self._http.send(request.to_httpx(self.connection), stream=True)
            try:
                if response.is_error:
                    raise errors.from_response(response.status_code, await response.aread())
                yield response
            finally:
                await response.aclose()
        except httpx.TransportError as exc:
            raise errors.from_transport(exc, self.connection.url) from None

    async def _send(self, call: Call[T]) -> T:
        async with self._open(call.request) as response:
            await response.aread()
            return call.parse(response)

    async def _lines(self, request: Request) -> AsyncGenerator[str, None]:
        async with self._open(request) as response:
            async for line in response.aiter_lines():
                yield line

    async def _text(self, request: Request) -> AsyncGenerator[str, None]:
        async with self._open(request) as response:
            async for text in response.aiter_text():
                yield text


class AsyncEvents:
    """`client.events`: what happened, and what happens next as it happens."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def list(
        self,
        workspace: str | None = None,
        types: builtins.list[str] | None = None,
        after: int | None = None,
        limit: int = 1000,
    ) -> builtins.list[Event]:
        return await self._client._send(calls.list_events(workspace, types, after, limit))

    async def follow(self, workspace: str | None = None, after: int | None = None
                     ) -> AsyncGenerator[Event, None]:  # fmt: skip
        """Events as they happen (after `after`, if given), until the caller stops."""
        decoder = EventStreamDecoder()
        async for line in self._client._lines(calls.follow_events(workspace, after)):
            if (event := decoder.feed(line)) is not None:
                yield event


class AsyncWorkspaces:
    """`client.workspaces`: create, find and list workspaces."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, name: str, **spec: Unpack[WorkspaceSpec]) -> AsyncWorkspace:
        record = await self._client._send(calls.create_workspace(name, spec))
        return AsyncWorkspace.bind(record, self._client)

    async def get(self, ref: str) -> AsyncWorkspace:
        """The workspace with this id or name."""
        record = await self._client._send(calls.get_workspace(ref))
        return AsyncWorkspace.bind(record, self._client)

    async def list(
        self, state: State | None = None, labels: dict[str, str] | None = None
    ) -> builtins.list[AsyncWorkspace]:
        records = await self._client._send(calls.list_workspaces(state, labels))
        return [AsyncWorkspace.bind(record, self._client) for record in records]


class AsyncWorkspace(WorkspaceFields):
    """One workspace: its API fields as attributes, its verbs as coroutines.

    As an async context manager it destroys the workspace on exit.
    """

    _client: AsyncClient = PrivateAttr()

    @classmethod
    def bind(cls, record: WorkspaceModel, client: AsyncClient) -> AsyncWorkspace:
        workspace = cls.model_validate(record.model_dump())
        workspace._client = client
        return workspace

    @property
    def files(self) -> AsyncFiles:
        return AsyncFiles(self._client, self.id)

    async def exec(self, command: Command, **options: Unpack[ExecOptions]) -> ExecResult:
        """Run `command` (an argv list, or a string for /bin/sh -c) and wait for it."""
        return await self._client._send(calls.exec_command(self.id, command, options))

    async def exec_stream(
        self, command: Command, **options: Unpack[ExecOptions]
    ) -> AsyncGenerator[OutputChunk | ExecResult, None]:
        """Run `command`, yielding its output as it comes and, last, the `ExecResult`."""
        decoder = ExecStreamDecoder()
        async for line in self._client._lines(calls.exec_stream(self.id, command, options)):
            event = decoder.feed(line)
            if event is not None:
                yield event
            if decoder.result is not None:
                return
        decoder.finish()

    async def logs(self, tail: int | None = None) -> str:
        """What the main command has printed so far (the last `tail` lines if given)."""
        return await self._client._send(calls.logs(self.id, tail))

    async def metrics(self, since: Since | None = None) -> WorkspaceMetrics:
        """The latest sample, active anomalies, and the history since `since` (a datetime,
        a timedelta, or `"15m"`; default the last hour)."""
        return await self._client._send(calls.workspace_metrics(self.id, since))

    def follow_logs(self, tail: int | None = None) -> AsyncGenerator[str, None]:
        """The main command's output, then more as it is printed, until the caller stops."""
        return self._client._text(calls.follow_logs(self.id, tail))

    async def start(self) -> AsyncWorkspace:
        return await self._change(calls.change_state(self.id, "start"))

    async def stop(self) -> AsyncWorkspace:
        return await self._change(calls.change_state(self.id, "stop"))

    async def pause(self) -> AsyncWorkspace:
        return await self._change(calls.change_state(self.id, "pause"))

    async def resume(self) -> AsyncWorkspace:
        return await self._change(calls.change_state(self.id, "resume"))

    async def destroy(self) -> AsyncWorkspace:
        return await self._change(calls.destroy_workspace(self.id))

    async def refresh(self) -> AsyncWorkspace:
        return await self._change(calls.get_workspace(self.id))

    async def snapshot(self, name: str) -> Template:
        """Save this workspace's files and disk as a template to create workspaces from."""
        return await self._client._send(calls.snapshot(self.id, name))

    async def fork(self, name: str) -> AsyncWorkspace:
        """An independent copy of this workspace (files, disk, env), running."""
        record = await self._client._send(calls.fork(self.id, name))
        return AsyncWorkspace.bind(record, self._client)

    async def update(self, **changes: Unpack[WorkspaceChanges]) -> AsyncWorkspace:
        """Change the spec; a change to command/env/restart/limits restarts the workspace."""
        return await self._change(calls.update_workspace(self.id, changes))

    async def _change(self, call: Call[WorkspaceModel]) -> AsyncWorkspace:
        self._update(await self._client._send(call))
        return self

    async def __aenter__(self) -> AsyncWorkspace:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.state in GONE:
            return
        try:
            await self.destroy()
        except NotFound:
            pass
        except Conflict:
            # Destroyed meanwhile (its TTL ran out, or by someone else): what we wanted anyway.
            if (await self.refresh()).state not in GONE:
                raise


class AsyncFiles:
    """`workspace.files`: the workspace's filesystem, by absolute path."""

    def __init__(self, client: AsyncClient, ref: str) -> None:
        self._client = client
        self._ref = ref

    async def read(self, path: str) -> bytes:
        return await self._client._send(calls.read_file(self._ref, path))

    async def read_text(self, path: str, encoding: str = "utf-8") -> str:
        return (await self.read(path)).decode(encoding)

    async def write(self, path: str, data: bytes | str, mode: int | None = None) -> FileEntry:
        """Create or replace the file at `path` (and its parent directories)."""
        return await self._client._send(calls.write_file(self._ref, path, data, mode))

    async def list(self, path: str) -> builtins.list[FileEntry]:
        return await self._client._send(calls.list_files(self._ref, path))

    async def stat(self, path: str) -> FileEntry:
        return await self._client._send(calls.stat_file(self._ref, path))

    async def mkdir(self, path: str, parents: bool = True) -> FileEntry:
        return await self._client._send(calls.make_dir(self._ref, path, parents))

    async def remove(self, path: str, recursive: bool = False) -> None:
        await self._client._send(calls.remove_file(self._ref, path, recursive))


class AsyncSecrets:
    """`client.secrets`: your named secrets; values go in and are never read back."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def set(self, name: str, value: str) -> Secret:
        return await self._client._send(calls.set_secret(name, value))

    async def list(self) -> builtins.list[Secret]:
        return await self._client._send(calls.list_secrets())

    async def delete(self, name: str) -> None:
        await self._client._send(calls.delete_secret(name))


class AsyncVolumes:
    """`client.volumes`: encrypted volumes that outlive the workspaces they are attached to."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def create(self, name: str, size_mib: int) -> Volume:
        return await self._client._send(calls.create_volume(name, size_mib))

    async def get(self, ref: str) -> Volume:
        return await self._client._send(calls.get_volume(ref))

    async def list(self) -> builtins.list[Volume]:
        return await self._client._send(calls.list_volumes())

    async def delete(self, ref: str) -> Volume:
        """Delete the volume by cryptographic erasure (refused while it is attached)."""
        return await self._client._send(calls.delete_volume(ref))


class AsyncTemplates:
    """`client.templates`: snapshots of workspaces (see `workspace.snapshot`)."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def get(self, ref: str) -> Template:
        return await self._client._send(calls.get_template(ref))

    async def list(self) -> builtins.list[Template]:
        return await self._client._send(calls.list_templates())

    async def delete(self, ref: str) -> Template:
        return await self._client._send(calls.delete_template(ref))
