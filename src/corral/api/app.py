"""The FastAPI application: wires routes, error mapping and the engine together."""

from __future__ import annotations

from fastapi import FastAPI

from corral import __version__
from corral.api import errors
from corral.api.routes import events, files, system, workspaces
from corral.api.routes import exec as exec_routes
from corral.config import Settings
from corral.engine.engine import Engine
from corral.store import Store


def create_app(settings: Settings, store: Store, engine: Engine, cgroup_mode: str) -> FastAPI:
    app = FastAPI(
        title="corral",
        version=__version__,
        description="Isolated workspaces for AI agents: sandboxes, persistent agents, services.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.engine = engine
    app.state.cgroup_mode = cgroup_mode
    errors.install(app)
    # exec before workspaces: POST /{ref}/exec must not be taken for POST /{ref}/{action}.
    for module in (system, events, exec_routes, files, workspaces):
        app.include_router(module.router)
    return app
