"""envd, the agent E2B runs inside each sandbox, served by corral for all of them at once.

The SDK reaches envd at `E2B_SANDBOX_URL` and names the sandbox in the `E2b-Sandbox-Id`
header of every call; corral serves envd's protocol there:
- Connect RPC for the Process and Filesystem services, served by the `connectrpc` ASGI
  applications generated into the e2b SDK from envd's .proto files (`ProcessService`,
  `FilesystemService` implement them);
- plain HTTP for `/files` (upload, download) and `/health` (`files`).

Importing this package imports the e2b SDK (~0.7 s), which is why corral loads it lazily.
"""

from __future__ import annotations

from e2b.envd.filesystem.filesystem_connect import FilesystemASGIApplication
from e2b.envd.process.process_connect import ProcessASGIApplication
from starlette.applications import Starlette
from starlette.routing import Route

from corral.compat.e2b.access import SandboxTokens
from corral.compat.e2b.envd import files
from corral.compat.e2b.envd.filesystem_service import FilesystemService
from corral.compat.e2b.envd.process_service import ProcessService
from corral.compat.e2b.envd.processes import ProcessManager
from corral.compat.e2b.envd.sandbox import Sandboxes
from corral.compat.e2b.errors import corral_error_handler
from corral.engine.engine import Engine
from corral.errors import CorralError


def create_app(engine: Engine, tokens: SandboxTokens) -> Starlette:
    sandboxes = Sandboxes(engine, tokens)
    process = ProcessASGIApplication(ProcessService(sandboxes, ProcessManager(engine)))
    filesystem = FilesystemASGIApplication(FilesystemService(sandboxes))
    app = Starlette(
        routes=[
            Route("/health", files.health, methods=["GET"]),
            Route("/files", files.download, methods=["GET"]),
            Route("/files", files.upload, methods=["POST"]),
            # Routes, not mounts: the Connect apps match the whole path after the envd root.
            Route(f"{process.path}/{{method}}", process),
            Route(f"{filesystem.path}/{{method}}", filesystem),
        ],
        exception_handlers={CorralError: corral_error_handler},
    )
    app.state.sandboxes = sandboxes
    return app
