"""corral: isolated workspaces for AI agents, driven by one HTTP API.

The SDK and the exception hierarchy are importable from here:
`from corral import Client, AsyncClient, NotFound`.
"""

# Before the imports below, so modules that read the version never see a half-made package.
__version__ = "0.1.0"

from corral.client import (  # noqa: E402
    AsyncClient,
    AsyncWorkspace,
    Client,
    ExecResult,
    FileEntry,
    Info,
    OutputChunk,
    Workspace,
)
from corral.errors import (  # noqa: E402
    CommandTimeout,
    Conflict,
    CorralError,
    Forbidden,
    InvalidSpec,
    NotFound,
    QuotaExceeded,
    RuntimeFailure,
    Unauthorized,
)

__all__ = [
    "AsyncClient",
    "AsyncWorkspace",
    "Client",
    "CommandTimeout",
    "Conflict",
    "CorralError",
    "ExecResult",
    "FileEntry",
    "Forbidden",
    "Info",
    "InvalidSpec",
    "NotFound",
    "OutputChunk",
    "QuotaExceeded",
    "RuntimeFailure",
    "Unauthorized",
    "Workspace",
    "__version__",
]
