"""envd's Process service over Connect: start, follow, list, feed and signal commands.

The work is `ProcessManager`'s; this module translates between its events and envd's
messages. A command's `timeout` is the Connect deadline of the `Start` call, as in envd:
when it passes, the command is killed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from e2b.envd.process import process_connect
from e2b.envd.process import process_pb as pb
from protobuf import Oneof

from corral.compat.e2b.envd.errors import as_connect_errors
from corral.compat.e2b.envd.processes import (
    Command,
    Ended,
    Event,
    Process,
    ProcessManager,
    follow,
)
from corral.compat.e2b.envd.sandbox import Sandboxes, keepalive_s, resolve_path
from corral.engine.spec import WorkspaceRecord
from corral.errors import InvalidSpec, NotFound

_SIGNALS = {pb.Signal.SIGKILL: 9, pb.Signal.SIGTERM: 15}


def process_event(event: Event | None) -> pb.ProcessEvent:
    # Each Oneof gets its own annotated name: mypy infers its field name as a Literal then.
    if event is None:
        keepalive: Oneof[Literal["keepalive"], pb.ProcessEvent.KeepAlive]
        keepalive = Oneof("keepalive", pb.ProcessEvent.KeepAlive())
        return pb.ProcessEvent(event=keepalive)
    if isinstance(event, Ended):
        info = pb.ProcessEvent.EndEvent(exit_code=event.exit_code, exited=event.exited,
                                        status=event.status, error=event.error)  # fmt: skip
        end: Oneof[Literal["end"], pb.ProcessEvent.EndEvent] = Oneof("end", info)
        return pb.ProcessEvent(event=end)
    stdout: Oneof[Literal["stdout"], bytes] = Oneof("stdout", event.data)
    stderr: Oneof[Literal["stderr"], bytes] = Oneof("stderr", event.data)
    output = stdout if event.stream == "stdout" else stderr
    data: Oneof[Literal["data"], pb.ProcessEvent.DataEvent]
    data = Oneof("data", pb.ProcessEvent.DataEvent(output=output))
    return pb.ProcessEvent(event=data)


def start_event(pid: int) -> pb.ProcessEvent:
    start: Oneof[Literal["start"], pb.ProcessEvent.StartEvent]
    start = Oneof("start", pb.ProcessEvent.StartEvent(pid=pid))
    return pb.ProcessEvent(event=start)


class ProcessService(process_connect.Process):
    def __init__(self, sandboxes: Sandboxes, processes: ProcessManager) -> None:
        self.sandboxes = sandboxes
        self.processes = processes

    async def _sandbox(self, ctx: RequestContext) -> WorkspaceRecord:
        return await asyncio.to_thread(self.sandboxes.get, ctx.request_headers)

    async def _process(self, ctx: RequestContext, selector: pb.ProcessSelector | None) -> Process:
        ws = await self._sandbox(ctx)
        match selector.selector if selector else None:
            case Oneof(field="pid", value=int() as pid):
                return self.processes.find(ws.id, pid=pid)
            case Oneof(field="tag", value=str() as tag):
                return self.processes.find(ws.id, tag=tag)
        raise InvalidSpec("select the process by pid or tag")

    async def start(
        self, request: pb.StartRequest, ctx: RequestContext
    ) -> AsyncIterator[pb.StartResponse]:
        with as_connect_errors():
            if request.pty is not None:
                raise ConnectError(Code.UNIMPLEMENTED, "corral does not run commands in a PTY")
            config = request.process or pb.ProcessConfig()
            ws = await self._sandbox(ctx)
            command = Command(
                cmd=config.cmd,
                args=list(config.args),
                envs=dict(config.envs),
                cwd=await self._cwd(ws, config),
                tag=request.tag if request.has_field("tag") else None,
                # Unset means on, for SDKs older than the field (as in envd).
                stdin=request.stdin if request.has_field("stdin") else True,
                timeout=ctx.timeout_ms / 1000 if ctx.timeout_ms else None,
            )
            process, events = await self.processes.start(ws, command)
        async for event in self._follow(process, events, ctx):
            yield pb.StartResponse(event=event)

    async def _cwd(self, ws: WorkspaceRecord, config: pb.ProcessConfig) -> str:
        cwd = resolve_path(config.cwd if config.has_field("cwd") else "")

        def check() -> None:
            if self.sandboxes.files(ws).stat(cwd).type != "dir":
                raise InvalidSpec(f"cwd '{cwd}' is not a directory")

        try:
            await asyncio.to_thread(check)
        except NotFound:
            raise InvalidSpec(f"cwd '{cwd}' does not exist") from None
        return cwd

    async def connect(
        self, request: pb.ConnectRequest, ctx: RequestContext
    ) -> AsyncIterator[pb.ConnectResponse]:
        with as_connect_errors():
            process = await self._process(ctx, request.process)
            events = process.subscribe()
        async for event in self._follow(process, events, ctx):
            yield pb.ConnectResponse(event=event)

    @staticmethod
    async def _follow(
        process: Process, events: asyncio.Queue[Event], ctx: RequestContext
    ) -> AsyncIterator[pb.ProcessEvent]:
        """A subscription as envd's stream of events: start, output, end; then unsubscribed."""
        try:
            yield start_event(process.pid)
            async for event in follow(events, keepalive_s(ctx.request_headers)):
                yield process_event(event)
        finally:
            process.unsubscribe(events)

    async def list(self, request: pb.ListRequest, ctx: RequestContext) -> pb.ListResponse:
        with as_connect_errors():
            ws = await self._sandbox(ctx)
        return pb.ListResponse(processes=[
            pb.ProcessInfo(
                config=pb.ProcessConfig(cmd=p.command.cmd, args=p.command.args,
                                        envs=p.command.envs, cwd=p.command.cwd),
                pid=p.pid,
                tag=p.command.tag,
            )
            for p in self.processes.list(ws.id)
        ])  # fmt: skip

    async def send_input(
        self, request: pb.SendInputRequest, ctx: RequestContext
    ) -> pb.SendInputResponse:
        with as_connect_errors():
            process = await self._process(ctx, request.process)
            process.write_stdin(_stdin_bytes(request.input))
        return pb.SendInputResponse()

    async def stream_input(
        self, request: AsyncIterator[pb.StreamInputRequest], ctx: RequestContext
    ) -> pb.StreamInputResponse:
        with as_connect_errors():
            process: Process | None = None
            async for message in request:
                match message.event:
                    case Oneof(value=pb.StreamInputRequest.StartEvent() as start):
                        process = await self._process(ctx, start.process)
                    case Oneof(value=pb.StreamInputRequest.DataEvent() as data):
                        if process is None:
                            raise InvalidSpec("the stream must open with a start event")
                        process.write_stdin(_stdin_bytes(data.input))
        return pb.StreamInputResponse()

    async def close_stdin(
        self, request: pb.CloseStdinRequest, ctx: RequestContext
    ) -> pb.CloseStdinResponse:
        with as_connect_errors():
            process = await self._process(ctx, request.process)
            process.close_stdin()
        return pb.CloseStdinResponse()

    async def send_signal(
        self, request: pb.SendSignalRequest, ctx: RequestContext
    ) -> pb.SendSignalResponse:
        with as_connect_errors():
            process = await self._process(ctx, request.process)
            signum = _SIGNALS.get(request.signal)
            if signum is None:
                raise InvalidSpec(f"unsupported signal {request.signal}")
            await self.processes.signal(process, signum)
        return pb.SendSignalResponse()


def _stdin_bytes(data: pb.ProcessInput | None) -> bytes:
    match data.input if data else None:
        case Oneof(field="stdin", value=bytes() as chunk):
            return chunk
        case Oneof(field="pty"):
            raise ConnectError(Code.FAILED_PRECONDITION, "the process has no PTY")
    return b""
