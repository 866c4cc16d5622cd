"""E2B compatibility: the official `e2b` SDK works against corral with environment variables.

    E2B_API_URL=http://127.0.0.1:7777/e2b
    E2B_SANDBOX_URL=http://127.0.0.1:7777/e2b/envd
    E2B_API_KEY=<a corral API key>

The two surfaces E2B has, mounted in corral's app by `mount`:
- `control`: E2B's REST API (create, list, connect, pause, kill sandboxes...) at /e2b;
- `envd`: the protocol of E2B's in-sandbox agent (commands, files), for every sandbox at
  once, at /e2b/envd; the SDK names the sandbox in a header of each call.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from corral.compat.e2b import control
from corral.compat.e2b.access import SandboxTokens
from corral.compat.e2b.errors import error_response
from corral.engine.engine import Engine

API_PREFIX = "/e2b"
ENVD_PREFIX = "/e2b/envd"
TOKEN_SECRET_FILE = "e2b-sandbox-tokens.key"

log = logging.getLogger("corral.e2b")


def mount(app: FastAPI) -> None:
    """Serve the E2B API and envd in `app` (whose state holds settings, engine, metrics)."""
    state = app.state
    tokens = SandboxTokens(state.settings.state_dir / TOKEN_SECRET_FILE)
    engine: Engine = state.engine

    def build_envd() -> ASGIApp:
        from corral.compat.e2b import envd

        return envd.create_app(engine, tokens)

    # envd first: /e2b would take its paths otherwise.
    app.mount(ENVD_PREFIX, Deferred(build_envd), name="e2b-envd")
    app.mount(API_PREFIX, control.create_app(engine, tokens, state.metrics), name="e2b")


class Deferred:
    """An ASGI app built off the event loop, ahead of its first request if it can.

    Building envd imports the e2b SDK, which takes longer than the rest of the daemon's
    start; a thread does it in the background, and a request arriving earlier waits for it.
    """

    def __init__(self, build: Callable[[], ASGIApp]) -> None:
        self._build = build
        self._app: ASGIApp | None = None
        self._error: str | None = None
        self._lock = threading.Lock()
        threading.Thread(target=self._ready, name="e2b-envd-load", daemon=True).start()

    def _ready(self) -> ASGIApp | None:
        with self._lock:
            if self._app is None and self._error is None:
                try:
                    self._app = self._build()
                except ImportError as exc:
                    self._error = f"E2B compatibility needs the e2b package ({exc})"
                    log.warning("%s: pip install 'corral[e2b]'", self._error)
            return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self._app or await asyncio.to_thread(self._ready)
        if app is None:
            await error_response(501, self._error or "unavailable")(scope, receive, send)
            return
        await app(scope, receive, send)
