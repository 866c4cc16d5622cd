"""corral's errors as the e2b SDK expects them over HTTP: `{code, message}` bodies.

The SDK maps statuses back to its own exception types (404 to `SandboxNotFoundException`,
401 to `AuthenticationException`...). A sandbox that is gone is special on envd: E2B's proxy
answers 502 "... was not found", which the SDK turns into `SandboxNotRunningException`, so
corral answers the same way.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.requests import Request

from corral.errors import CorralError, InvalidSpec, NotFound


class SandboxGone(NotFound):
    """The sandbox an envd call names does not exist (any more)."""

    status_code = 502

    def __init__(self, sandbox_id: str) -> None:
        # "was not found" is what the SDK looks for to report the sandbox as not running.
        super().__init__(f"The sandbox {sandbox_id} was not found")


def http_status(exc: CorralError) -> int:
    # The E2B API answers a request it cannot act on with 400 where corral says 422.
    return 400 if isinstance(exc, InvalidSpec) else exc.status_code


def error_response(status: int, message: str) -> JSONResponse:
    """E2B's error body; the SDK's generated client requires both fields."""
    return JSONResponse({"code": status, "message": message}, status_code=status)


async def corral_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """Exception handler for both E2B apps: a corral error as E2B's error body."""
    assert isinstance(exc, CorralError)
    return error_response(http_status(exc), str(exc))
