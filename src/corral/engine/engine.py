"""The engine: every workspace operation, driving the drivers toward the stored desired state.

The engine imports only driver interfaces. Each operation takes the workspace's lock, checks
the transition against `states.TRANSITIONS`, records the intent in the store *before* acting
(so a crash mid-way leaves a state the reconciler knows how to finish), then calls drivers,
which are idempotent.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corral.drivers.network.base import Network
from corral.drivers.runtime.base import (
    ContainerSpec,
    ExecExit,
    ExecSpec,
    Mount,
    OutputChunk,
    Runtime,
)
from corral.drivers.runtime.isolation import CONTAINER, Isolation, level_of
from corral.drivers.runtime.ocispec import DEFAULT_PATH
from corral.drivers.storage.base import Disks, Rootfs, Storage
from corral.drivers.storage.snapshots import TemplateLayers
from corral.engine import faults, secret_env
from corral.engine.admission import Admission, AdmitAll
from corral.engine.disks import KeyedDisks, workspace_disk
from corral.engine.events import Events
from corral.engine.networking import Networking
from corral.engine.pool import POOL_OWNER, WarmPool, poolable
from corral.engine.sdk import sdk_env, sdk_mounts
from corral.engine.snapshots import Seed, Snapshots
from corral.engine.spec import (
    EnvValue,
    Lifecycle,
    Limits,
    LinkTarget,
    NetworkSpec,
    StorageSpec,
    WorkspaceRecord,
)
from corral.engine.states import Action, State, next_state, state_hint
from corral.engine.volumes import Volumes
from corral.errors import Conflict, CorralError, InvalidSpec, RuntimeFailure
from corral.secrets.keyring import Keyring
from corral.secrets.tenant import TenantSecrets
from corral.store import Store
from corral.store.keys import KeyRows
from corral.store.volumes import TemplateRows, VolumeRows

log = logging.getLogger("corral.engine")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return secrets.token_hex(6)


def as_argv(command: list[str] | str) -> list[str]:
    return ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)


class Engine:
    def __init__(
        self,
        store: Store,
        runtime: Runtime,
        network: Network,
        storage: Storage,
        workspaces_dir: Path,
        *,
        disks: Disks,
        keyring: Keyring,
        templates_dir: Path,
        isolation: Mapping[str, Runtime] | None = None,
    ) -> None:
        self.store = store
        # One runtime per isolation level (`runtime` is the container level), called as one.
        self.runtime = Isolation({CONTAINER: runtime, **(isolation or {})})
        self.admission: Admission = AdmitAll()  # quotas and child policies (corral.tenancy)
        self.pool: WarmPool | None = None  # warm sandboxes (corral.engine.pool), if configured
        self.network = network
        self.storage = storage
        self.workspaces_dir = workspaces_dir
        # Persistent storage and secrets: encrypted disks, volumes, templates, env secrets.
        self.keyring = keyring
        self.disks = KeyedDisks(disks, keyring)
        self.secrets = TenantSecrets(KeyRows(store), keyring, self._secret_users)
        self.volumes = Volumes(VolumeRows(store), self.disks, store.list_workspaces, new_id, utcnow)
        self.snapshots = Snapshots(self, TemplateRows(store), TemplateLayers(templates_dir))
        self.events = Events(store)
        self.networking = Networking(self)  # addresses, links, internet, published ports
        self.activity: dict[str, float] = {}
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # -- helpers ------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self, workspace_id: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(workspace_id, threading.RLock())
        with lock:
            yield

    def log_path(self, workspace_id: str) -> Path:
        return self.workspaces_dir / workspace_id / "main.log"

    def _transition(self, ws: WorkspaceRecord, action: Action) -> None:
        before = ws.state
        ws.state = next_state(ws.state, action)
        self.store.save_workspace(ws)
        if ws.state != before:
            self.events.emit(ws.owner, ws.id, "state", f"{ws.name}: {before} -> {ws.state}",
                             action=action.value, before=before.value, after=ws.state.value)

    def emit(self, ws: WorkspaceRecord, type: str, message: str, **data: object) -> None:
        self.events.about(ws, type, message, **data)

    def _base_env(self, ws: WorkspaceRecord) -> dict[str, str]:
        env = {"PATH": DEFAULT_PATH, "HOME": "/root", "HOSTNAME": ws.name, **ws.env,
               **secret_env.reveal(self.keyring, self.secrets, ws)}  # fmt: skip
        if ws.network.api_access:  # the SDK bound in by `sdk_mounts`, after the user's path
            paths = [env.get("PYTHONPATH", ""), sdk_env()["PYTHONPATH"]]
            env["PYTHONPATH"] = ":".join(p for p in paths if p)
        return env

    def _secret_users(self, owner: str, secret: str) -> list[str]:
        return [ws.name for ws in self.store.list_workspaces(owner)
                if secret_env.references(ws, secret)]  # fmt: skip

    def _storage_mounts(self, ws: WorkspaceRecord) -> tuple[Mount, ...]:
        """The workspace's own disk and its volumes, mounted and keyed, to bind in."""
        mounts = []
        if ws.storage.disk_mib is not None:
            data = self.disks.ensure(workspace_disk(ws.id), ws.storage.disk_mib)
            mounts.append(Mount(str(data), ws.storage.disk_path, readonly=False))
        return (*mounts, *self.volumes.mounts(ws))

    def _erase_disk(self, workspace_id: str) -> None:
        self.disks.erase(workspace_disk(workspace_id))

    def _forget_secrets(self, ws: WorkspaceRecord) -> None:
        """Destroy the workspace's data key: its sealed env values are noise from now on."""
        self.keyring.destroy(secret_env.data_key_id(ws.id))

    def _rootfs(self, ws: WorkspaceRecord) -> Rootfs:
        layers = self.snapshots.layer_paths(ws)
        return self.storage.prepare(ws.id, ws.image, layers, ws.storage.rootfs_mib)

    def _container_spec(self, ws: WorkspaceRecord, phase: str = "boot") -> ContainerSpec:
        rootfs = self._rootfs(ws)
        faults.point(f"{phase}.storage")
        attachment = self.network.attach(self.networking.endpoint(ws))
        faults.point(f"{phase}.network")
        log_path = self.log_path(ws.id)
        log_path.touch(exist_ok=True)
        sdk = ws.network.api_access
        return ContainerSpec(
            id=ws.id,
            rootfs=rootfs.path,
            command=ws.command,
            env=self._base_env(ws),
            hostname=ws.name,
            netns=attachment.netns,
            log_path=log_path,
            cpu=ws.limits.cpu,
            memory_mib=ws.limits.memory_mib,
            pids=ws.limits.pids,
            mounts=rootfs.mounts + attachment.mounts + self._storage_mounts(ws)
            + (sdk_mounts() if sdk else ()),
            isolation=level_of(ws.runtime),
        )

    def _boot(self, ws: WorkspaceRecord, phase: str = "boot") -> None:
        """Make the container run (storage, network, runtime); record its init pid."""
        state = self.runtime.run(self._container_spec(ws, phase))
        faults.point(f"{phase}.runtime")
        ws.extra["pid"] = state.pid
        ws.extra["started_at"] = utcnow().isoformat()

    def _teardown(self, workspace_id: str) -> None:
        """Remove every runtime object of a workspace; safe to repeat."""
        errors: list[str] = []
        steps = (("runtime", self.runtime.delete), ("network", self.network.detach),
                 ("storage", self.storage.release), ("disk", self._erase_disk))  # fmt: skip
        for name, step in steps:
            try:
                step(workspace_id)
                faults.point(f"destroy.{name}")
            except Exception as exc:  # keep going: leave as little behind as possible
                errors.append(f"{step.__qualname__}: {exc}")
        if errors:
            raise RuntimeFailure("; ".join(errors))

    # -- queries ------------------------------------------------------------------------

    def get(self, ref: str, owner: str) -> WorkspaceRecord:
        return self.store.get_workspace(ref, owner)

    def list(
        self, owner: str, state: State | None = None, labels: dict[str, str] | None = None
    ) -> list[WorkspaceRecord]:
        records = self.store.list_workspaces(owner, [state] if state else None)
        if labels:
            records = [r for r in records if all(r.labels.get(k) == v for k, v in labels.items())]
        return records

    def images(self) -> builtins.list[str]:
        return self.storage.images()

    # -- lifecycle ----------------------------------------------------------------------

    def create(
        self,
        owner: str,
        name: str,
        image: str = "host",
        command: builtins.list[str] | str | None = None,
        env: Mapping[str, EnvValue] | None = None,
        limits: Limits | None = None,
        ttl_seconds: int | None = None,
        restart: str = "never",
        labels: dict[str, str] | None = None,
        lifecycle: Lifecycle | None = None,
        storage: StorageSpec | None = None,
        seed: Seed | None = None,
        network: NetworkSpec | None = None,
        links: Sequence[LinkTarget] = (),
        isolation: str = CONTAINER,
        extra: Mapping[str, object] | None = None,
    ) -> WorkspaceRecord:
        """A new running workspace. `seed`, if given, fills its writable layer and disk before
        it boots (a fork's copy); a template's files fill its disk otherwise."""
        plain_env, secret_values = secret_env.split(env or {})
        secret_env.check_refs(self.secrets, owner, secret_values)
        storage = storage or StorageSpec()
        if storage.template is not None:
            template = self.snapshots.get(storage.template, owner)
            image, storage = template.image, self.snapshots.apply(template, storage)
            seed = seed or self.snapshots.seed_from(template)
        if image not in self.storage.images():
            raise InvalidSpec(
                f"unknown image {image!r}", hint=f"available: {', '.join(self.storage.images())}"
            )
        if restart != "never" and command is None:
            raise InvalidSpec(
                f"restart policy {restart!r} needs a command", hint="set command, or restart=never"
            )
        network, link_targets = self.networking.check(owner, network or NetworkSpec(), links)
        limits, storage = self.admission.defaults(owner, limits or Limits(), storage)
        now = utcnow()
        ws = WorkspaceRecord(
            id=new_id(),
            owner=owner,
            name=name,
            image=image,
            state=State.CREATING,
            command=as_argv(command) if command is not None else None,
            env=plain_env,
            limits=limits,
            restart=restart,
            labels=dict(labels or {}),
            created_at=now,
            updated_at=now,
            ttl_seconds=ttl_seconds,
            expires_at=now + timedelta(seconds=ttl_seconds) if ttl_seconds else None,
            runtime=self.runtime.for_level(isolation).name,
            lifecycle=lifecycle or Lifecycle(),
            storage=storage,
            network=network,
            extra=dict(extra or {}),
        )
        if self.pool is not None and owner != POOL_OWNER and poolable(
            command, restart, storage, network, links, secret_values, seed, isolation
        ):
            with self.admission.admit(ws):
                claimed = self.pool.claim(ws)
            if claimed is not None:
                return claimed
        # From checking quotas and attachments to recording them: nothing half-created.
        with self.admission.admit(ws), self.volumes.attaching():
            ws.storage = dataclasses.replace(
                storage, volumes=self.volumes.resolve(owner, storage.volumes)
            )
            self.store.insert_workspace(ws)
        faults.point("create.recorded")
        with self.locked(ws.id):
            try:
                (self.workspaces_dir / ws.id).mkdir(parents=True, exist_ok=True)
                secret_values = {**secret_values, **self.networking.admit(ws, link_targets)}
                self._provision(ws, secret_values, seed)
                self._boot(ws, phase="create")
            except BaseException as exc:
                self._roll_back_create(ws, exc)
                if isinstance(exc, Exception) and not isinstance(exc, CorralError):
                    raise RuntimeFailure(f"could not create the workspace: {exc}") from exc
                raise
            self._transition(ws, Action.CREATED)
        log.info("created workspace %s (%s)", ws.id, ws.name)
        return ws

    def _provision(
        self, ws: WorkspaceRecord, secret_values: Mapping[str, EnvValue], seed: Seed | None
    ) -> None:
        """Seal the secret env, make the disk, fill it: what only a create does."""
        if secret_values:
            ws.secret_env = secret_env.seal(self.keyring, ws.id, secret_values)
            self.store.save_workspace(ws)
        if ws.storage.disk_mib is not None:
            self.disks.ensure(workspace_disk(ws.id), ws.storage.disk_mib)
        faults.point("create.disk")
        if seed is not None:
            seed(ws)

    def _roll_back_create(self, ws: WorkspaceRecord, exc: BaseException) -> None:
        log.warning("create of %s failed, rolling back: %s", ws.id, exc)
        with contextlib.suppress(CorralError):
            self._teardown(ws.id)
        self._forget_secrets(ws)
        ws.error = f"create failed: {exc}"
        ws.state = State.DESTROYED
        self.store.save_workspace(ws)
        with contextlib.suppress(CorralError):
            self.networking.release(ws)
        self.emit(ws, "create_failed", str(exc))

    def start(self, ref: str, owner: str) -> WorkspaceRecord:
        ws = self.get(ref, owner)
        with self.locked(ws.id):
            ws = self.get(ws.id, owner)
            next_state(ws.state, Action.START)
            self.runtime.delete(ws.id)  # a stopped container may linger; start afresh
            for key in ("restart_due_at", "consecutive_restarts"):
                ws.extra.pop(key, None)
            try:
                self._boot(ws)
            except CorralError as exc:
                ws.error = str(exc)
                self.store.save_workspace(ws)
                raise
            ws.error = None
            self._transition(ws, Action.START)
        return ws

    def stop(self, ref: str, owner: str) -> WorkspaceRecord:
        ws = self.get(ref, owner)
        with self.locked(ws.id):
            ws = self.get(ws.id, owner)
            next_state(ws.state, Action.STOP)
            ws.extra["intent"] = "stop"  # a crash from here on is finished by the reconciler
            self.store.save_workspace(ws)
            self.runtime.delete(ws.id)
            faults.point("stop.runtime")
            for key in ("pid", "restart_due_at", "consecutive_restarts", "started_at", "intent"):
                ws.extra.pop(key, None)
            self._transition(ws, Action.STOP)
        return ws

    def pause(self, ref: str, owner: str, reason: str = "api") -> WorkspaceRecord:
        ws = self.get(ref, owner)
        with self.locked(ws.id):
            ws = self.get(ws.id, owner)
            next_state(ws.state, Action.PAUSE)
            self.runtime.pause(ws.id)
            faults.point("pause.runtime")
            ws.extra["paused_reason"] = reason
            ws.extra["paused_at"] = utcnow().isoformat()
            self._transition(ws, Action.PAUSE)
        return ws

    def resume(self, ref: str, owner: str, reason: str = "api") -> WorkspaceRecord:
        ws = self.get(ref, owner)
        with self.locked(ws.id):
            ws = self.get(ws.id, owner)
            next_state(ws.state, Action.RESUME)
            self.runtime.resume(ws.id)
            faults.point("resume.runtime")
            self._credit_paused_time(ws)
            ws.extra.pop("paused_reason", None)
            self._transition(ws, Action.RESUME)
            if reason != "api":
                self.emit(ws, "resumed", f"resumed on {reason}", reason=reason)
        self.touch(ws.id)
        return ws

    def _credit_paused_time(self, ws: WorkspaceRecord) -> None:
        """When paused time does not count against the TTL, push the expiry back by it."""
        paused_at = ws.extra.pop("paused_at", None)
        if ws.expires_at is None or ws.lifecycle.ttl_counts_paused or not paused_at:
            return
        ws.expires_at += utcnow() - datetime.fromisoformat(str(paused_at))

    def touch(self, workspace_id: str) -> None:
        """Record API activity on a workspace (for idle auto-pause)."""
        self.activity[workspace_id] = time.monotonic()

    def ensure_running(self, ref: str, owner: str, doing: str) -> WorkspaceRecord:
        """The workspace, running: a paused one is resumed transparently (a few ms)."""
        ws = self.get(ref, owner)
        if ws.state == State.PAUSED:
            try:
                ws = self.resume(ws.id, owner, reason=doing)
            except Conflict:
                ws = self.get(ws.id, owner)  # resumed concurrently
        self.touch(ws.id)
        if ws.state != State.RUNNING:
            raise Conflict(f"cannot {doing} in a workspace that is {ws.state.value}",
                           hint=state_hint(ws.state))  # fmt: skip
        return ws

    def destroy(self, ref: str, owner: str) -> WorkspaceRecord:
        ws = self.get(ref, owner)
        with self.locked(ws.id):
            ws = self.get(ws.id, owner)
            if ws.state == State.DESTROYED:
                return ws  # destroying twice (e.g. after a TTL expiry) is not an error
            self._transition(ws, Action.DESTROY)
            faults.point("destroy.recorded")
            self._finish_destroy(ws)
        return ws

    def _finish_destroy(self, ws: WorkspaceRecord) -> None:
        self._teardown(ws.id)
        self.networking.release(ws)
        self._forget_secrets(ws)
        ws.extra.pop("pid", None)
        self._transition(ws, Action.DESTROYED)
        log.info("destroyed workspace %s (%s)", ws.id, ws.name)

    def update(
        self,
        ref: str,
        owner: str,
        command: builtins.list[str] | str | None = None,
        env: dict[str, str] | None = None,
        restart: str | None = None,
        labels: dict[str, str] | None = None,
        limits: Limits | None = None,
    ) -> WorkspaceRecord:
        """Change a workspace's spec. A change to what its main process runs with (command,
        env, restart policy, limits) restarts a running workspace with the new spec (a
        redeploy); its files, disk and address stay."""
        ws = self.get(ref, owner)
        with self.locked(ws.id):
            ws = self.get(ws.id, owner)
            if ws.state in (State.DESTROYING, State.DESTROYED, State.CREATING):
                raise Conflict(f"cannot update a workspace that is {ws.state.value}")
            if labels is not None:
                ws.labels = dict(labels)
            restart_needed = False
            if command is not None:
                ws.command = as_argv(command)
                restart_needed = True
            if env is not None:
                ws.env = dict(env)
                restart_needed = True
            if restart is not None:
                ws.restart = restart
                restart_needed = True
            if limits is not None:
                ws.limits = limits
                restart_needed = True
            if ws.restart != "never" and ws.command is None:
                raise InvalidSpec(f"restart policy {ws.restart!r} needs a command")
            self.admission.check_change(ws)
            self.store.save_workspace(ws)
            if restart_needed and ws.state in (State.RUNNING, State.PAUSED):
                self.runtime.delete(ws.id)
                for key in ("restart_due_at", "consecutive_restarts"):
                    ws.extra.pop(key, None)
                ws.state = State.RUNNING
                self._boot(ws)
                self.store.save_workspace(ws)
            self.emit(ws, "updated", "spec updated" + (", restarted" if restart_needed else ""))
        return ws

    def set_timeout(self, ref: str, owner: str, ttl_seconds: int | None) -> WorkspaceRecord:
        """Make the workspace expire `ttl_seconds` from now (None: never expire)."""
        ws = self.get(ref, owner)
        with self.locked(ws.id):
            ws = self.get(ws.id, owner)
            if ws.state in (State.DESTROYING, State.DESTROYED):
                raise Conflict(f"cannot set the timeout of a workspace that is {ws.state.value}")
            ws.ttl_seconds = ttl_seconds
            ws.expires_at = utcnow() + timedelta(seconds=ttl_seconds) if ttl_seconds else None
            self.admission.check_change(ws)
            self.store.save_workspace(ws)
            self.emit(ws, "timeout", f"expires at {ws.expires_at}" if ws.expires_at
                      else "no longer expires", ttl_seconds=ttl_seconds)  # fmt: skip
        return ws

    # -- inside a workspace ------------------------------------------------------------

    async def exec(
        self, ref: str, owner: str, spec: ExecSpec
    ) -> AsyncIterator[OutputChunk | ExecExit]:
        ws = self.ensure_running(ref, owner, "exec")
        env = {**self._base_env(ws), **spec.env}
        full = ExecSpec(spec.argv, env, spec.cwd, spec.stdin, spec.timeout)
        async for item in self.runtime.exec(ws.id, full):
            yield item

    def root_dir(self, ref: str, owner: str) -> str:
        """Host path of the workspace's root as its processes see it (for file access)."""
        ws = self.get(ref, owner)
        if ws.state == State.PAUSED:
            ws = self.ensure_running(ws.id, owner, "file access")
        self.touch(ws.id)
        pid = ws.extra.get("pid")
        if ws.state in (State.RUNNING, State.PAUSED) and isinstance(pid, int):
            return self.runtime.root_path(ws.id, pid)
        if ws.state == State.STOPPED:
            return str(self._rootfs(ws).path)
        raise Conflict(f"the files of a workspace that is {ws.state.value} are not reachable")
