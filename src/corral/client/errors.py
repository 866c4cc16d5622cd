"""Turning what went wrong on the wire back into corral's exception classes."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from corral.api.schemas import ErrorBody
from corral.errors import ERRORS_BY_CODE, CorralError

CONNECT_HINT = "is `corral serve` running?"

# For bodies that are not corral's error JSON (a proxy's page, an unknown route).
# Reversed, so the first class listed for a status (the most general) wins.
_ERRORS_BY_STATUS = {cls.status_code: cls for cls in reversed(ERRORS_BY_CODE.values())}


def from_response(status_code: int, body: bytes) -> CorralError:
    """The exception a failed response stands for, with the server's message and hint."""
    try:
        payload = ErrorBody.model_validate_json(body)
    except ValidationError:
        cls = _ERRORS_BY_STATUS.get(status_code, CorralError)
        text = body.decode(errors="replace").strip()[:200]
        return cls(f"HTTP {status_code}: {text}" if text else f"HTTP {status_code}")
    cls = ERRORS_BY_CODE.get(payload.error) or _ERRORS_BY_STATUS.get(status_code, CorralError)
    return cls(payload.message, hint=payload.hint)


def from_transport(exc: httpx.TransportError, url: str) -> CorralError:
    """A CorralError for a request that never got an answer."""
    if isinstance(exc, httpx.ConnectError):
        return CorralError(f"cannot connect to corral at {url}", hint=CONNECT_HINT)
    if isinstance(exc, httpx.TimeoutException):
        return CorralError(
            f"corral at {url} did not answer in time", hint="raise the client timeout"
        )
    return CorralError(f"request to corral at {url} failed: {exc}")
