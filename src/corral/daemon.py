"""`corral serve`: prepare the host, reconcile, supervise, and serve the API."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from corral.api.app import create_app
from corral.api.auth import create_key
from corral.config import Settings
from corral.drivers import linux
from corral.drivers.network.isolated import IsolatedNetwork
from corral.drivers.runtime import cgroups
from corral.drivers.runtime.oci import OciRuntime
from corral.drivers.runtime.select import choose_init, choose_runtime
from corral.drivers.storage.images import ImageStore
from corral.drivers.storage.overlay import OverlayStorage
from corral.engine.engine import Engine
from corral.engine.reconciler import reconcile
from corral.engine.states import State
from corral.engine.supervisor import Supervisor
from corral.engine.webhooks import Webhooks
from corral.errors import CorralError, RuntimeFailure
from corral.metrics.sampler import Sampler
from corral.store import Store

log = logging.getLogger("corral")


def build_engine(settings: Settings) -> tuple[Store, Engine, str]:
    if os.geteuid() != 0:
        raise RuntimeFailure("corral serve needs root", hint="run it as root (sudo)")
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(settings.state_dir, 0o700)
    settings.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cgroup_mode = cgroups.prepare_host()
    runtime_binary = choose_runtime(settings.runtime, cgroup_mode)
    linux.set_child_subreaper()
    store = Store(settings.db_url)
    runtime = OciRuntime(
        runtime_binary,
        state_root=settings.run_dir / "runtime",
        bundles_dir=settings.run_dir / "bundles",
        init_binary=choose_init(),
    )
    engine = Engine(
        store=store,
        runtime=runtime,
        network=IsolatedNetwork(settings.run_dir / "netns"),
        storage=OverlayStorage(settings.workspaces_dir, ImageStore(settings.images_dir)),
        workspaces_dir=settings.workspaces_dir,
    )
    return store, engine, cgroup_mode


def ensure_admin_key(settings: Settings, store: Store) -> str | None:
    """On first start, make the admin key; return it (to print once), else None."""
    if store.count_api_keys():
        return None
    key = create_key(store, owner="admin", role="admin")
    fd = os.open(settings.admin_key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def serve(settings: Settings) -> None:
    logging.basicConfig(
        level=os.environ.get("CORRAL_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    store, engine, cgroup_mode = build_engine(settings)
    key = ensure_admin_key(settings, store)
    reconcile(engine)
    supervisor = Supervisor(engine, settings.supervise_interval, settings.restart_backoff_cap)
    supervisor.start()
    sampler = Sampler(engine, settings.metrics_interval)
    sampler.start()
    webhooks = Webhooks(store)
    engine.events.listeners.append(webhooks.on_event)
    webhooks.start()
    app = create_app(settings, store, engine, cgroup_mode, sampler)
    app.state.webhooks = webhooks
    url = f"http://{settings.host}:{settings.port}"
    print(f"corral {engine.runtime.name} runtime, cgroup {cgroup_mode}, state in "
          f"{settings.state_dir}", file=sys.stderr)  # fmt: skip
    print(f"corral API on {url} (OpenAPI: {url}/openapi.json)", file=sys.stderr)
    if key:
        print(f"admin API key (shown once, also in {settings.admin_key_file}): {key}",
              file=sys.stderr)  # fmt: skip
    try:
        # Workspaces outlive the daemon: shutting down leaves them running for re-adoption.
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        sampler.stop()
        supervisor.stop()
        webhooks.stop()
        if settings.stop_workspaces_on_exit:
            stop_all(engine)
        store.close()


def stop_all(engine: Engine) -> None:
    """Stop every running or paused workspace (for `corral serve --stop-on-exit`)."""
    for ws in engine.store.list_workspaces(states=[State.RUNNING, State.PAUSED]):
        try:
            engine.stop(ws.id, ws.owner)
        except CorralError as exc:
            log.warning("could not stop %s on exit: %s", ws.id, exc)
