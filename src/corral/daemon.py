"""`corral serve`: prepare the host, reconcile, supervise, and serve the API."""

from __future__ import annotations

import logging
import os
import signal
import sys

import uvicorn

from corral.api.app import create_app
from corral.api.auth import create_key
from corral.config import Settings, parse_pools
from corral.drivers import linux
from corral.drivers.network.bridge import BridgeNetwork
from corral.drivers.runtime import cgroups
from corral.drivers.runtime.base import Runtime
from corral.drivers.runtime.isolation import GVISOR
from corral.drivers.runtime.oci import OciRuntime
from corral.drivers.runtime.reaper import REAPER
from corral.drivers.runtime.runsc import RunscRuntime, find_runsc
from corral.drivers.runtime.select import choose_init, choose_runtime
from corral.drivers.storage.disks import EncryptedDisks
from corral.drivers.storage.images import ImageStore
from corral.drivers.storage.overlay import OverlayStorage
from corral.engine.engine import Engine
from corral.engine.pool import WarmPool, retire_strays
from corral.engine.reconciler import reconcile
from corral.engine.states import State
from corral.engine.supervisor import Supervisor
from corral.engine.webhooks import Webhooks
from corral.errors import CorralError, RuntimeFailure
from corral.metrics.anomaly import MIB, Rules
from corral.metrics.sampler import Sampler
from corral.secrets.keyring import Keyring
from corral.secrets.master import MasterKeyFile
from corral.store import Store
from corral.store.keys import KeyRows
from corral.tenancy.service import Tenancy

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
    REAPER.start()
    store = Store(settings.db_url)
    init_binary = choose_init()
    runtime = OciRuntime(
        runtime_binary,
        state_root=settings.run_dir / "runtime",
        bundles_dir=settings.run_dir / "bundles",
        init_binary=init_binary,
    )
    isolation: dict[str, Runtime] = {}
    if runsc := find_runsc():  # gVisor, for workspaces created with isolation="gvisor"
        isolation[GVISOR] = RunscRuntime(runsc, settings.run_dir / "runsc",
                                         settings.run_dir / "bundles", init_binary)  # fmt: skip
    engine = Engine(
        store=store,
        runtime=runtime,
        network=open_network(settings),
        storage=OverlayStorage(settings.workspaces_dir, ImageStore(settings.images_dir)),
        workspaces_dir=settings.workspaces_dir,
        disks=EncryptedDisks(settings.disks_dir, settings.disk_mounts_dir),
        keyring=open_keyring(settings, store),
        templates_dir=settings.templates_dir,
        isolation=isolation,
    )
    return store, engine, cgroup_mode


def open_network(settings: Settings) -> BridgeNetwork:
    """The private network's hub, made on first start and re-adopted after a restart."""
    network = BridgeNetwork(settings.run_dir, settings.subnet, uplink=settings.uplink,
                            nameservers=settings.nameservers,
                            api=(settings.host, settings.port))  # fmt: skip
    network.prepare()
    return network


def open_keyring(settings: Settings, store: Store) -> Keyring:
    """The keyring under the master key: made on first start unless the operator gives one."""
    master = MasterKeyFile(settings.master_key_file, create=settings.master_key_path is None)
    return Keyring(KeyRows(store), master)


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
    rules = Rules(rootfs_bytes=settings.rootfs_warn_mib * MIB or None)
    sampler = Sampler(store, engine.storage, engine.events, settings.metrics_interval, rules)
    sampler.start()
    webhooks = Webhooks(store, engine.keyring)
    webhooks.seal_legacy()
    engine.events.listeners.append(webhooks.on_event)
    tenancy = Tenancy(store, engine, webhooks).attach()  # quotas, child policies, cascade
    tenancy.sweep()  # children whose parent was destroyed while the daemon was down
    webhooks.start()
    pools = parse_pools(settings.warm_pool)
    retire_strays(engine, pools)
    if pools:
        engine.pool = WarmPool(engine, pools)
        engine.pool.start()
    app = create_app(settings, store, engine, cgroup_mode, sampler)
    app.state.webhooks = webhooks
    app.state.tenancy = tenancy
    url = f"http://{settings.host}:{settings.port}"
    print(f"corral {engine.runtime.name} runtime, cgroup {cgroup_mode}, state in "
          f"{settings.state_dir}", file=sys.stderr)  # fmt: skip
    print(f"corral API on {url} (OpenAPI: {url}/openapi.json)", file=sys.stderr)
    if key:
        print(f"admin API key (shown once, also in {settings.admin_key_file}): {key}",
              file=sys.stderr)  # fmt: skip
    # uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown: exit through `finally`.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    try:
        # Workspaces outlive the daemon: shutting down leaves them running for re-adoption.
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    finally:
        if engine.pool is not None:
            engine.pool.stop()
        sampler.stop()
        supervisor.stop()
        webhooks.stop()
        if settings.stop_workspaces_on_exit:
            stop_all(engine)
        store.close()


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def stop_all(engine: Engine) -> None:
    """Stop every running or paused workspace (for `corral serve --stop-on-exit`)."""
    for ws in engine.store.list_workspaces(states=[State.RUNNING, State.PAUSED]):
        try:
            engine.stop(ws.id, ws.owner)
        except CorralError as exc:
            log.warning("could not stop %s on exit: %s", ws.id, exc)
