"""One exception hierarchy for the whole of corral.

Drivers, the engine and the client all raise these; the API maps each class to one HTTP
status in `corral.api.errors`, and the client maps the status back to the same class, so a
caller catches `corral.NotFound` whether it talks to the engine in-process or over HTTP.
"""

from __future__ import annotations


class CorralError(Exception):
    """Base of every error corral raises on purpose."""

    status_code = 500
    code = "internal"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InvalidSpec(CorralError):
    """The request is well-formed JSON but asks for something corral cannot do."""

    status_code = 422
    code = "invalid_spec"


class Unauthorized(CorralError):
    status_code = 401
    code = "unauthorized"


class Forbidden(CorralError):
    status_code = 403
    code = "forbidden"


class NotFound(CorralError):
    status_code = 404
    code = "not_found"


class Conflict(CorralError):
    """The target exists but its current state forbids the action."""

    status_code = 409
    code = "conflict"


class TooLarge(CorralError):
    """A request body (e.g. an upload) is larger than corral accepts."""

    status_code = 413
    code = "too_large"


class QuotaExceeded(CorralError):
    status_code = 429
    code = "quota_exceeded"


class RuntimeFailure(CorralError):
    """A driver (OCI runtime, network, storage) failed while doing what was asked."""

    status_code = 500
    code = "runtime_failure"


class Unreachable(CorralError):
    """A service inside a workspace did not answer (the published-port proxy)."""

    status_code = 502
    code = "unreachable"


class CommandTimeout(CorralError):
    """Client-side: a command ran past its timeout (the server reports it as a result)."""

    status_code = 408
    code = "timeout"


ERRORS_BY_CODE: dict[str, type[CorralError]] = {
    cls.code: cls
    for cls in (
        CorralError,
        InvalidSpec,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        QuotaExceeded,
        TooLarge,
        RuntimeFailure,
        Unreachable,
        CommandTimeout,
    )
}
