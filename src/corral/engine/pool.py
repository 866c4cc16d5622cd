"""Warm pools: idle sandboxes created ahead of time, claimed by a matching create.

A pool is kept per image: `size` running, network-ready workspaces owned by nobody
(`POOL_OWNER`). A create that a pooled sandbox can serve (no main command, no disk or
volumes, no links, published ports, API access or secrets: the shape of a code sandbox,
air-gapped or with internet, which is switched on at claim) claims one instead:
the record is handed to the caller with its name, env, labels, TTL and lifecycle, and its
limits are written to its cgroups — milliseconds instead of a boot. A background thread
refills the pool. Pooled workspaces are ordinary records, so the reconciler re-adopts
them after a daemon restart like any other.

The container's hostname is set to the claimed name in its UTS namespace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from corral.drivers import linux
from corral.engine.spec import NetworkSpec, StorageSpec, WorkspaceRecord
from corral.engine.states import State
from corral.errors import Conflict, CorralError
from corral.store.store import utcnow

if TYPE_CHECKING:
    from corral.engine.engine import Engine

log = logging.getLogger("corral.pool")

POOL_OWNER = "__pool__"
REFILL_NICE = 10
# A refill waits for a quiet gap this long after the last claim (but never longer than
# MAX_DEFER_SECONDS): a claimed sandbox's first commands, which come right after its claim,
# then do not compete with a boot for the CPU and the GIL.
SETTLE_SECONDS = 0.1
MAX_DEFER_SECONDS = 0.5


def poolable(
    command: object,
    restart: str,
    storage: StorageSpec,
    network: NetworkSpec,
    links: object,
    secret_values: object,
    seed: object,
    isolation: str,
) -> bool:
    """Can a pooled sandbox serve this create? (The shape of a code sandbox.)"""
    return (
        command is None
        and seed is None
        and restart == "never"
        and storage == StorageSpec()
        # Internet and an egress allow-list are switched on at claim (one policy apply).
        and dataclasses.replace(network, internet=False, egress=()) == NetworkSpec()
        and not links
        and not secret_values
        and isolation == "container"
    )


def retire_strays(engine: Engine, sizes: dict[str, int]) -> int:
    """Destroy pooled sandboxes that no pool will hand out: those of an image with no pool
    any more (the daemon restarted with that pool, or all pools, off) and those not running
    (stopped with the daemon). Owned by nobody, they would otherwise live on unseen."""
    retired = 0
    for ws in engine.store.list_workspaces(owner=POOL_OWNER):
        if ws.image in sizes and ws.state == State.RUNNING:
            continue
        try:
            engine.destroy(ws.id, POOL_OWNER)
            retired += 1
        except CorralError as exc:
            log.warning("could not retire pooled sandbox %s: %s", ws.id, exc)
    return retired


class WarmPool:
    def __init__(self, engine: Engine, sizes: dict[str, int], interval: float = 0.5) -> None:
        self.engine = engine
        self.sizes = dict(sizes)
        self.interval = interval
        self._ready: dict[str, deque[str]] = {image: deque() for image in sizes}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.claims = 0
        self.misses = 0
        self._rename_pending = False
        self._last_claim = 0.0

    # -- status ------------------------------------------------------------------------

    def status(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {image: {"size": self.sizes.get(image, 0), "ready": len(ready)}
                    for image, ready in self._ready.items()}  # fmt: skip

    def resize(self, image: str, size: int) -> None:
        with self._lock:
            self.sizes[image] = size
            self._ready.setdefault(image, deque())
        self._wake.set()

    # -- claim -------------------------------------------------------------------------

    def claim(self, want: WorkspaceRecord) -> WorkspaceRecord | None:
        """`want` made real from a pooled sandbox (same id as the sandbox), or None if none
        is ready. Call it where `want` would otherwise be inserted (quota checks held)."""
        while True:
            with self._lock:
                ready = self._ready.get(want.image)
                workspace_id = ready.popleft() if ready else None
            if workspace_id is None:
                self.misses += 1
                self._wake.set()
                return None
            self._last_claim = time.monotonic()
            self._wake.set()
            ws = self._hand_over(workspace_id, want)
            if ws is not None:
                self.claims += 1
                return ws

    def _hand_over(self, workspace_id: str, want: WorkspaceRecord) -> WorkspaceRecord | None:
        engine = self.engine
        with engine.locked(workspace_id):
            try:
                ws = engine.store.get_workspace(workspace_id, POOL_OWNER)
            except CorralError:
                return None
            if ws.state != State.RUNNING or not isinstance(ws.extra.get("pid"), int):
                return None
            limits = want.limits
            engine.runtime.update(ws.id, limits.cpu, limits.memory_mib, limits.pids)
            with contextlib.suppress(OSError):  # cosmetic: `hostname` shows its new name
                linux.set_hostname_of(int(str(ws.extra["pid"])), want.name)
            ws.owner, ws.name, ws.env, ws.labels = want.owner, want.name, want.env, want.labels
            ws.limits, ws.lifecycle, ws.extra = want.limits, want.lifecycle, {
                **want.extra, **ws.extra, "pooled": True}  # fmt: skip
            ws.ttl_seconds, ws.expires_at = want.ttl_seconds, want.expires_at
            ws.created_at = want.created_at
            online = want.network.internet
            ws.network = dataclasses.replace(ws.network, internet=online,
                                             egress=want.network.egress)  # fmt: skip
            try:
                engine.store.claim_workspace(ws)
            except Conflict:
                self._give_back(workspace_id, ws.image)
                raise
            if online:  # in force before the caller gets it
                engine.networking.apply()
        self._rename_pending = True  # its /etc/hosts gets its new name, off the claim's path
        engine.touch(ws.id)
        engine.emit(ws, "state", f"{ws.name}: claimed from the warm pool -> running",
                    action="claim", before="pooled", after="running")  # fmt: skip
        return ws

    def _give_back(self, workspace_id: str, image: str) -> None:
        with self._lock:
            self._ready.setdefault(image, deque()).appendleft(workspace_id)

    # -- refill ------------------------------------------------------------------------

    def start(self) -> None:
        for ws in self.engine.store.list_workspaces(owner=POOL_OWNER, states=[State.RUNNING]):
            if ws.image in self._ready:
                self._ready[ws.image].append(ws.id)
        self._thread = threading.Thread(target=self._loop, name="warm-pool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        # Refills run niced (the thread and the runtimes it starts), so that on a busy host
        # they yield the CPU to the requests they are there to speed up.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), REFILL_NICE)
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self._settle()
                if self._rename_pending:
                    self._rename_pending = False
                    self.engine.networking.apply()
                self.refill()
            except Exception:
                log.exception("warm pool refill failed")

    def _settle(self) -> None:
        """Wait for a quiet gap after the last claim, within MAX_DEFER_SECONDS."""
        deadline = time.monotonic() + MAX_DEFER_SECONDS
        while not self._stop.is_set():
            now = time.monotonic()
            quiet = now - self._last_claim
            if quiet >= SETTLE_SECONDS or now >= deadline:
                return
            self._stop.wait(min(SETTLE_SECONDS - quiet, deadline - now))

    def refill(self) -> None:
        for image, size in list(self.sizes.items()):
            while not self._stop.is_set():
                with self._lock:
                    ready = self._ready.setdefault(image, deque())
                    surplus = len(ready) - size
                    missing = -surplus
                    victim = ready.pop() if surplus > 0 else None
                if victim is not None:
                    self.engine.destroy(victim, POOL_OWNER)
                    continue
                if missing <= 0:
                    break
                self._settle()
                ws = self.engine.create(POOL_OWNER, f"pool-{image}-{utcnow():%H%M%S%f}",
                                        image=image)  # fmt: skip
                with self._lock:
                    self._ready[image].append(ws.id)
