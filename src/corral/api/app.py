"""The FastAPI application: wires routes, error mapping and the engine together."""

from __future__ import annotations

from fastapi import FastAPI

from corral import __version__, dashboard
from corral.api import errors
from corral.api.routes import events, files, metrics, system, webhooks, workspaces
from corral.api.routes import exec as exec_routes
from corral.config import Settings
from corral.engine.engine import Engine
from corral.metrics.sampler import Sampler
from corral.store import Store


def create_app(
    settings: Settings,
    store: Store,
    engine: Engine,
    cgroup_mode: str,
    metrics_sampler: Sampler | None = None,
) -> FastAPI:
    app = FastAPI(
        title="corral",
        version=__version__,
        description="Isolated workspaces for AI agents: sandboxes, persistent agents, services.",
    )
    app.state.settings = settings
    app.state.store = store
    app.state.engine = engine
    app.state.cgroup_mode = cgroup_mode
    app.state.metrics = metrics_sampler
    errors.install(app)
    # exec before workspaces: POST /{ref}/exec must not be taken for POST /{ref}/{action}.
    for module in (system, events, webhooks, exec_routes, files, metrics, workspaces):
        app.include_router(module.router)
    dashboard.install(app)
    return app
