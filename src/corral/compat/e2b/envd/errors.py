"""corral's errors as the Connect errors envd sends, which the SDK maps to its exceptions.

NOT_FOUND from the filesystem becomes `FileNotFoundException`, from `SendSignal` a `False`
from `commands.kill`; UNAVAILABLE "... was not found" becomes `SandboxNotRunningException`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from connectrpc.code import Code
from connectrpc.errors import ConnectError

from corral.compat.e2b.errors import SandboxGone
from corral.errors import (
    Conflict,
    CorralError,
    Forbidden,
    InvalidSpec,
    NotFound,
    QuotaExceeded,
    Unauthorized,
)

# First match wins: SandboxGone is a NotFound.
_CODES: tuple[tuple[type[CorralError], Code], ...] = (
    (SandboxGone, Code.UNAVAILABLE),
    (NotFound, Code.NOT_FOUND),
    (Unauthorized, Code.UNAUTHENTICATED),
    (Forbidden, Code.PERMISSION_DENIED),
    (InvalidSpec, Code.INVALID_ARGUMENT),
    (Conflict, Code.FAILED_PRECONDITION),
    (QuotaExceeded, Code.RESOURCE_EXHAUSTED),
)


def connect_error(exc: CorralError) -> ConnectError:
    code = next((code for cls, code in _CODES if isinstance(exc, cls)), Code.INTERNAL)
    return ConnectError(code, str(exc))


@contextlib.contextmanager
def as_connect_errors() -> Iterator[None]:
    """Raise the corral errors of the block as Connect errors."""
    try:
        yield
    except CorralError as exc:
        raise connect_error(exc) from exc
