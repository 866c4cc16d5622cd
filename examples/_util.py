"""Small helpers the examples share: waiting, and calling a workspace's published port."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from corral import Client

T = TypeVar("T")


def wait_for(check: Callable[[], T | None], timeout: float = 30, every: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if (value := check()) is not None and value is not False:
                return value
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            last = exc
        time.sleep(every)
    raise TimeoutError(f"gave up after {timeout}s ({last})")


def port(client: Client, workspace: str, number: int) -> httpx.Client:
    """An HTTP client for a published port, through the daemon's authenticated proxy."""
    conn = client.connection
    return httpx.Client(base_url=f"{conn.url}/v1/workspaces/{workspace}/ports/{number}",
                        headers=conn.headers, timeout=30)  # fmt: skip


def json_of(response: httpx.Response) -> Any:
    response.raise_for_status()
    return response.json()
