"""The E2B process table, on a fake engine: launcher line, fan-out, stdin, end events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from corral.compat.e2b.envd.processes import (
    Command,
    Ended,
    Event,
    Output,
    ProcessManager,
    ended,
    follow,
)
from corral.drivers.runtime.base import ExecExit, ExecSpec, OutputChunk
from corral.errors import RuntimeFailure

SANDBOX: Any = type("Ws", (), {"id": "sb1", "owner": "alice"})()


class FakeEngine:
    """Plays a script of exec items; `"echo-stdin"` echoes the command's stdin to stdout."""

    def __init__(self, *script: object) -> None:
        self.script = script
        self.specs: list[ExecSpec] = []

    async def exec(self, ref: str, owner: str, spec: ExecSpec) -> AsyncIterator[object]:
        self.specs.append(spec)
        for item in self.script:
            if item == "echo-stdin":
                assert spec.stdin is not None and not isinstance(spec.stdin, bytes)
                async for chunk in spec.stdin:
                    yield OutputChunk("stdout", chunk)
            else:
                await asyncio.sleep(0)
                yield item


def run_command(
    engine: FakeEngine, **options: Any
) -> tuple[int, list[Event | None], ProcessManager]:
    async def main() -> tuple[int, list[Event | None], ProcessManager]:
        manager = ProcessManager(engine)  # type: ignore[arg-type]
        command = Command("/bin/bash", ["-c", "x"], {}, "/root", **options)
        process, events = await manager.start(SANDBOX, command)
        if command.stdin:
            process.write_stdin(b"hello ")
            process.write_stdin(b"world")
            process.close_stdin()
        seen = [event async for event in follow(events, keepalive_s=5)]
        await asyncio.sleep(0)
        return process.pid, seen, manager

    return asyncio.run(main())


def test_the_launcher_line_gives_the_pid_and_is_not_output() -> None:
    engine = FakeEngine(
        OutputChunk("stdout", b"early "),  # raced ahead of the launcher's line
        OutputChunk("stderr", b"42\nwarning"),
        OutputChunk("stdout", b"out"),
        ExecExit(3, False, 1.0),
    )
    pid, events, manager = run_command(engine, timeout=5)
    assert pid == 42
    assert events == [
        Output("stdout", b"early "),
        Output("stderr", b"warning"),
        Output("stdout", b"out"),
        Ended(3, True, "exit status 3", "exit status 3"),
    ]
    assert manager.list("sb1") == []  # forgotten once ended
    argv = engine.specs[0].argv
    assert argv[0] == "/bin/sh" and argv[-3:] == ["/bin/bash", "-c", "x"]
    assert engine.specs[0].timeout == 5


def test_a_command_that_never_starts_is_an_error() -> None:
    failed = ExecExit(1, False, 1.0)
    engine = FakeEngine(OutputChunk("stderr", b"crun: chdir: No such file\n"), failed)
    with pytest.raises(RuntimeFailure, match="chdir"):
        run_command(engine)


def test_stdin_is_streamed_until_closed() -> None:
    engine = FakeEngine(OutputChunk("stderr", b"7\n"), "echo-stdin", ExecExit(0, False, 1))
    _, events, _ = run_command(engine, stdin=True)
    assert b"".join(e.data for e in events if isinstance(e, Output)) == b"hello world"
    assert events[-1] == Ended(0, True, "exit status 0", None)


@pytest.mark.parametrize(
    ("result", "signalled", "expected"),
    [
        (ExecExit(0, False, 1), None, Ended(0, True, "exit status 0", None)),
        (ExecExit(137, False, 1), None, Ended(137, True, "exit status 137", "exit status 137")),
        (ExecExit(137, False, 1), 9, Ended(-1, False, "signal: killed", "signal: killed")),
        (ExecExit(143, False, 1), 15, Ended(-1, False, "signal: terminated", "signal: terminated")),
        (ExecExit(137, True, 1), None, Ended(-1, False, "signal: killed", "signal: killed")),
    ],
)
def test_end_events_read_like_envd(
    result: ExecExit, signalled: int | None, expected: Ended
) -> None:
    assert ended(result, signalled) == expected
