"""The client a command talks through, made on first use from the global options."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from corral.client import Client


@dataclass
class Session:
    url: str | None = None
    api_key: str | None = None
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.url, self.api_key)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def client(ctx: typer.Context) -> Client:
    return ctx.ensure_object(Session).client()
