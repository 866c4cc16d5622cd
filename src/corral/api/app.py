"""The FastAPI application: wires routes, error mapping and the engine together."""

from __future__ import annotations

from fastapi import FastAPI

from corral import __version__, dashboard
from corral.api import errors
from corral.api.routes import (
    admin,
    events,
    files,
    links,
    metrics,
    network,
    pools,
    ports,
    secrets,
    snapshots,
    system,
    volumes,
    webhooks,
    workspaces,
)
from corral.api.routes import exec as exec_routes
from corral.compat import e2b
from corral.config import Settings
from corral.engine.engine import Engine
from corral.metrics.sampler import Sampler
from corral.store import Store
from corral.tenancy.audit import AuditLog


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
    app.add_middleware(AuditLog)  # every mutating call, E2B's API included
    # exec before workspaces: POST /{ref}/exec must not be taken for POST /{ref}/{action}.
    # Likewise snapshots: POST /{ref}/snapshot and /{ref}/fork, and POST /{ref}/network.
    for module in (system, events, webhooks, exec_routes, files, metrics, snapshots, secrets,
                   volumes, pools, admin, links, network, ports, workspaces):  # fmt: skip
        app.include_router(module.router)
    dashboard.install(app)
    e2b.mount(app)  # E2B's API at /e2b, its in-sandbox protocol at /e2b/envd
    return app
