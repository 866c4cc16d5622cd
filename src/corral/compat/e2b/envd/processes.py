"""The process table of E2B sandboxes: commands that outlive the request that started them.

corral's own exec is request-scoped: one caller gets the output, and the command ends with
the request. envd keeps a table instead: a command runs on in the background, any number of
callers can follow its output (`Start`, later `Connect`), write its stdin, signal it or list
it. `ProcessManager` is that table, built on the engine's exec: each command is a task on the
daemon's event loop that drains `Engine.exec` and fans the output out to its subscribers.

Every command starts under a one-line /bin/sh launcher that writes its own pid to stderr and
then execs the command, so the table knows the pid the sandbox itself uses (what `ps` shows
there and `kill` takes). That first line is consumed here and never reaches a subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from corral.drivers.runtime.base import ExecExit, ExecSpec
from corral.engine.engine import Engine
from corral.engine.spec import WorkspaceRecord
from corral.errors import Conflict, NotFound, RuntimeFailure

log = logging.getLogger("corral.e2b.processes")

LAUNCHER = ["/bin/sh", "-c", 'echo "$$" >&2 && exec "$@"', "sh"]
# Commands without a timeout still need one for the runtime: ten years.
NO_TIMEOUT_S = 10 * 365 * 24 * 3600.0
# Events a slow subscriber may fall behind by before the command's output waits for it
# (as envd does: back-pressure rather than unbounded memory).
SUBSCRIBER_BACKLOG = 64
SIGNAL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Command:
    """What to start, as an envd `StartRequest` describes it."""

    cmd: str
    args: list[str]
    envs: dict[str, str]
    cwd: str
    tag: str | None = None
    stdin: bool = False
    timeout: float | None = None


@dataclass(frozen=True)
class Output:
    stream: Literal["stdout", "stderr"]
    data: bytes


@dataclass(frozen=True)
class Ended:
    """How a command ended, in envd's terms (a signal death is exit code -1, as in Go)."""

    exit_code: int
    exited: bool
    status: str
    error: str | None


Event = Output | Ended


def ended(result: ExecExit, signalled: int | None) -> Ended:
    """envd's end event for what the runtime reported, worded as Go's os.ProcessState is."""
    killed_by = signal.SIGKILL if result.timed_out else signalled
    if killed_by is not None and (result.timed_out or result.exit_code == 128 + killed_by):
        status = f"signal: {(signal.strsignal(killed_by) or str(killed_by)).lower()}"
        return Ended(-1, False, status, status)
    status = f"exit status {result.exit_code}"
    return Ended(result.exit_code, True, status, status if result.exit_code else None)


@dataclass(eq=False)
class Process:
    sandbox_id: str
    owner: str
    command: Command
    pid: int = 0
    signalled: int | None = None  # the last signal sent through `ProcessManager.signal`
    stdin: asyncio.Queue[bytes | None] | None = None  # None: closed, or never opened
    task: asyncio.Task[None] | None = None  # held here: the loop keeps only weak references
    subscribers: set[asyncio.Queue[Event]] = field(default_factory=set)

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self.subscribers.discard(queue)

    async def publish(self, event: Event) -> None:
        for queue in list(self.subscribers):
            await queue.put(event)

    def write_stdin(self, data: bytes) -> None:
        if self.stdin is None:
            raise Conflict(f"stdin of process {self.pid} is not open",
                           hint="start the command with stdin=True")  # fmt: skip
        self.stdin.put_nowait(data)

    def close_stdin(self) -> None:
        if self.stdin is not None:
            self.stdin.put_nowait(None)
            self.stdin = None


async def _stdin_chunks(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (chunk := await queue.get()) is not None:
        yield chunk


class ProcessManager:
    """Every sandbox's running commands, keyed by sandbox id and pid."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._table: dict[str, dict[int, Process]] = {}

    def list(self, sandbox_id: str) -> list[Process]:
        return list(self._table.get(sandbox_id, {}).values())

    def find(self, sandbox_id: str, pid: int | None = None, tag: str | None = None) -> Process:
        for process in self.list(sandbox_id):
            if (pid is not None and process.pid == pid) or (
                tag is not None and process.command.tag == tag
            ):
                return process
        raise NotFound(f"process with {f'pid {pid}' if pid is not None else f'tag {tag!r}'} "
                       "not found")  # fmt: skip

    async def start(
        self, ws: WorkspaceRecord, command: Command
    ) -> tuple[Process, asyncio.Queue[Event]]:
        """Start `command`; return it once its pid is known, subscribed to from its first byte."""
        stdin: asyncio.Queue[bytes | None] | None = asyncio.Queue() if command.stdin else None
        process = Process(ws.id, ws.owner, command, stdin=stdin)
        events = process.subscribe()
        started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        spec = ExecSpec(
            argv=[*LAUNCHER, command.cmd, *command.args],
            env=command.envs,
            cwd=command.cwd,
            stdin=_stdin_chunks(stdin) if stdin else None,
            timeout=command.timeout or NO_TIMEOUT_S,
        )
        process.task = asyncio.create_task(self._run(process, spec, started))
        await started
        return process, events

    async def _run(self, process: Process, spec: ExecSpec, started: asyncio.Future[int]) -> None:
        launcher_line = bytearray()
        early: list[Output] = []  # stdout that raced ahead of the launcher's line
        try:
            async for item in self.engine.exec(process.sandbox_id, process.owner, spec):
                if isinstance(item, ExecExit):
                    if not started.done():
                        message = launcher_line.decode(errors="replace").strip()
                        raise RuntimeFailure(f"the command did not start: {message or item}")
                    self._forget(process)  # first: a Connect from now on must not wait for it
                    await process.publish(ended(item, process.signalled))
                elif started.done():
                    await process.publish(Output(item.stream, item.data))
                elif item.stream == "stdout":
                    early.append(Output("stdout", item.data))
                else:
                    launcher_line += item.data
                    head, newline, rest = bytes(launcher_line).partition(b"\n")
                    if not newline:
                        continue
                    if not head.strip().isdigit():
                        message = head.decode(errors="replace")
                        raise RuntimeFailure(f"the command did not start: {message}")
                    process.pid = int(head)
                    self._table.setdefault(process.sandbox_id, {})[process.pid] = process
                    started.set_result(process.pid)
                    for output in early:
                        await process.publish(output)
                    if rest:
                        await process.publish(Output("stderr", rest))
        except Exception as exc:
            if not started.done():
                started.set_exception(exc)
            else:
                log.warning("process %s in %s failed: %s", process.pid, process.sandbox_id, exc)
                self._forget(process)
                await process.publish(Ended(-1, False, "unknown", str(exc)))
        finally:
            if not started.done():  # cancelled before it started
                started.cancel()
            self._forget(process)

    def _forget(self, process: Process) -> None:
        table = self._table.get(process.sandbox_id, {})
        if table.get(process.pid) is process:  # not a later process that reused the pid
            del table[process.pid]
            if not table:
                self._table.pop(process.sandbox_id, None)

    async def signal(self, process: Process, signum: int) -> None:
        """Send `signum` to the process, from inside its sandbox (its pid namespace)."""
        name = signal.Signals(signum).name.removeprefix("SIG")
        spec = ExecSpec(["/bin/sh", "-c", 'kill -s "$0" "$1"', name, str(process.pid)],
                        timeout=SIGNAL_TIMEOUT_S)  # fmt: skip
        process.signalled = signum
        async for item in self.engine.exec(process.sandbox_id, process.owner, spec):
            if isinstance(item, ExecExit) and item.exit_code != 0:
                raise NotFound(f"process {process.pid} is gone")


async def follow(events: asyncio.Queue[Event], keepalive_s: float) -> AsyncIterator[Event | None]:
    """A subscription's events until the command ends, and None after each `keepalive_s` of
    silence (envd's keepalives, which also let a server notice a caller that went away)."""
    while True:
        try:
            event = await asyncio.wait_for(events.get(), keepalive_s)
        except TimeoutError:
            yield None
            continue
        yield event
        if isinstance(event, Ended):
            return
