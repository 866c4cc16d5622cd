"""The async SDK against a real `corral serve`: the same surface, awaited."""

from __future__ import annotations

import asyncio

import pytest
from tests.conftest import Daemon

from corral import AsyncClient, ExecResult, NotFound, OutputChunk

pytestmark = pytest.mark.integration


def test_async_sandbox_exec_stream_files(server: Daemon) -> None:
    async def main() -> None:
        async with AsyncClient(server.url, server.api_key) as client:
            assert await client.health() == "ok"
            async with client.sandbox(ttl=60, labels={"suite": "async"}) as sb:
                assert (await sb.exec(["echo", "hi"])).stdout == "hi\n"
                events = [event async for event in sb.exec_stream("echo a; echo b >&2")]
                assert events[:-1] == [OutputChunk("stdout", "a\n"), OutputChunk("stderr", "b\n")]
                assert isinstance(events[-1], ExecResult) and events[-1].ok
                await sb.files.write("/tmp/x/y.txt", "data")
                assert await sb.files.read_text("/tmp/x/y.txt") == "data"
                assert [e.name for e in await sb.files.list("/tmp/x")] == ["y.txt"]
                assert (await sb.pause()).state == "paused"
                assert (await sb.resume()).state == "running"
                listed = await client.workspaces.list(labels={"suite": "async"})
                assert [w.id for w in listed] == [sb.id]
            assert sb.state == "destroyed"
            assert (await client.workspaces.get(sb.id)).state == "destroyed"
            with pytest.raises(NotFound):
                await client.workspaces.get("no-such-workspace")

    asyncio.run(main())


def test_async_sandboxes_run_concurrently(server: Daemon) -> None:
    async def one(client: AsyncClient, n: int) -> str:
        async with client.sandbox(ttl=60) as sb:
            return (await sb.exec(f"echo {n}")).stdout

    async def main() -> list[str]:
        async with AsyncClient(server.url, server.api_key) as client:
            return await asyncio.gather(*(one(client, n) for n in range(3)))

    assert asyncio.run(main()) == ["0\n", "1\n", "2\n"]
