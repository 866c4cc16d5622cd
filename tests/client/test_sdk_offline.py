"""The SDK with nothing listening: a clear error instead of an httpx traceback."""

from __future__ import annotations

import asyncio
import socket

import pytest

from corral import AsyncClient, Client, CorralError
from corral.client.errors import CONNECT_HINT


@pytest.fixture
def dead_url() -> str:
    """A loopback port with nothing listening on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_sync_client_reports_connection_refused(dead_url: str) -> None:
    with Client(dead_url, "crl_x") as client, pytest.raises(CorralError) as caught:
        client.workspaces.list()
    assert caught.value.hint == CONNECT_HINT


def test_async_client_reports_connection_refused(dead_url: str) -> None:
    async def main() -> None:
        async with AsyncClient(dead_url, "crl_x") as client:
            await client.info()

    with pytest.raises(CorralError) as caught:
        asyncio.run(main())
    assert caught.value.hint == CONNECT_HINT
