"""Who may call the E2B surfaces: API keys on the control plane, sandbox tokens on envd.

The control plane takes a corral API key, in `X-API-Key` as the e2b SDK sends it or as a
bearer token. Calls to envd carry no API key: only the sandbox id (`E2b-Sandbox-Id`) and the
sandbox's access token (`X-Access-Token`), which the control plane hands out when it creates
or connects to a sandbox. The token is an HMAC of the sandbox id under a secret kept in the
state directory: nothing to store per sandbox, valid across daemon restarts, and worthless
for any other sandbox.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from corral.api.auth import Principal, authenticate
from corral.compat.e2b.errors import SandboxGone
from corral.engine.engine import Engine
from corral.engine.spec import WorkspaceRecord
from corral.engine.states import State
from corral.errors import NotFound, Unauthorized
from corral.store import Store

SECRET_BYTES = 32


def api_principal(store: Store, headers: Mapping[str, str]) -> Principal:
    """The caller of a control-plane request."""
    key = headers.get("x-api-key")
    if key:
        return authenticate(store, f"Bearer {key}")
    return authenticate(store, headers.get("authorization"))


class SandboxTokens:
    """Issues and checks the per-sandbox access tokens of envd."""

    def __init__(self, secret_file: Path) -> None:
        self._secret = _load_or_create(secret_file)

    def issue(self, sandbox_id: str) -> str:
        digest = hmac.new(self._secret, sandbox_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, sandbox_id: str, token: str) -> bool:
        return hmac.compare_digest(self.issue(sandbox_id), token)

    def sandbox(self, engine: Engine, headers: Mapping[str, str]) -> WorkspaceRecord:
        """The live sandbox an envd request is for, once its token checks out."""
        sandbox_id = headers.get("e2b-sandbox-id")
        if not sandbox_id:
            raise Unauthorized(
                "missing E2b-Sandbox-Id header", hint="point E2B_SANDBOX_URL at corral's /e2b/envd"
            )
        token = headers.get("x-access-token") or ""
        if not self.verify(sandbox_id, token):
            raise Unauthorized(f"invalid access token for sandbox {sandbox_id}")
        try:
            ws = engine.store.get_workspace(sandbox_id)
        except NotFound:
            raise SandboxGone(sandbox_id) from None
        if ws.state in (State.DESTROYING, State.DESTROYED):
            raise SandboxGone(sandbox_id)
        return ws


def _load_or_create(path: Path) -> bytes:
    with contextlib.suppress(FileNotFoundError):
        secret = path.read_bytes()
        if len(secret) == SECRET_BYTES:
            return secret
    # Written aside, then renamed into place: a crash never leaves a short secret behind.
    secret = secrets.token_bytes(SECRET_BYTES)
    staging = path.with_name(f".{path.name}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)
        f.flush()
        os.fsync(f.fileno())
    os.replace(staging, path)
    return secret
