"""Converge reality to the store, once at daemon start (kubelet-style).

Every step is idempotent, so a crash of the daemon at any line of any operation is repaired
by running this again:
- `creating` (crashed mid-create): everything made so far is removed; the workspace is failed.
- `destroying`: the destroy is finished.
- `running`/`paused`: the container is re-adopted if it still exists (pause state fixed up
  to match); if it vanished (crash, host reboot) it is restarted per its restart policy,
  otherwise marked stopped.
- `stopped`/`failed`: any container left over is removed.
- runtime containers, network namespaces and root filesystems with no live record go.
- network: addresses and links of workspaces that are gone are forgotten, and the packet
  filter is rebuilt from the store (so no rule of a vanished workspace or link survives).
- disks: every disk of a live workspace, volume or template is mounted and keyed again (a
  host reboot unmounts them all); disks, keys and template layers nobody owns are erased.
"""

from __future__ import annotations

import logging

from corral.engine.disks import workspace_disk
from corral.engine.engine import Engine
from corral.engine.secret_env import data_key_id
from corral.engine.spec import WorkspaceRecord
from corral.engine.states import Action, State
from corral.errors import CorralError

log = logging.getLogger("corral.reconciler")


def reconcile(engine: Engine) -> dict[str, int]:
    counts = {"adopted": 0, "restarted": 0, "stopped": 0, "rolled_back": 0, "removed": 0}
    records = engine.store.list_workspaces()
    live = {ws.id for ws in records}
    # The packet filter first, so every re-adopted workspace has its links and nothing else.
    counts["removed"] += engine.networking.restore(live)
    for ws in records:
        with engine.locked(ws.id):
            try:
                outcome = _reconcile_one(engine, ws)
            except CorralError as exc:
                log.error("reconcile of %s failed: %s", ws.id, exc)
                ws.error = f"reconcile failed: {exc}"
                ws.state = State.FAILED
                engine.store.save_workspace(ws)
                continue
            if outcome:
                counts[outcome] += 1
    counts["removed"] += _remove_strays(engine, live)
    log.info("reconciled: %s", counts)
    return counts


def _reconcile_one(engine: Engine, ws: WorkspaceRecord) -> str | None:
    if ws.state == State.CREATING:
        engine._teardown(ws.id)
        ws.error = "the daemon stopped while creating this workspace"
        ws.extra.pop("pid", None)
        engine._transition(ws, Action.FAIL)
        return "rolled_back"
    if ws.state == State.DESTROYING:
        engine._finish_destroy(ws)
        return None
    if ws.state in (State.STOPPED, State.FAILED):
        engine.runtime.delete(ws.id)
        return None
    if ws.extra.get("intent") == "stop":  # crashed while stopping: finish the stop
        engine.stop(ws.id, ws.owner)
        return "stopped"
    observed = engine.runtime.state(ws.id)
    if observed is not None and observed.status in ("running", "paused"):
        if ws.state == State.RUNNING and observed.status == "paused":
            engine.runtime.resume(ws.id)
        elif ws.state == State.PAUSED and observed.status == "running":
            engine.runtime.pause(ws.id)
        ws.extra["pid"] = observed.pid
        engine.store.save_workspace(ws)
        return "adopted"
    # The container is gone (it exited while we were down, or the host rebooted).
    engine.runtime.delete(ws.id)
    if ws.restart == "always" or (ws.restart == "on-failure" and ws.command is not None):
        engine._boot(ws)
        ws.restart_count += 1
        ws.state = State.RUNNING
        engine.store.save_workspace(ws)
        return "restarted"
    ws.extra.pop("pid", None)
    engine._transition(ws, Action.CRASH)
    return "stopped"


def _remove_strays(engine: Engine, live: set[str]) -> int:
    removed = 0
    for container in engine.runtime.list():
        if container.id not in live:
            engine.runtime.delete(container.id)
            removed += 1
    for workspace_id in engine.network.attached():
        if workspace_id not in live:
            engine.network.detach(workspace_id)
            removed += 1
    for workspace_id in engine.storage.prepared():
        if workspace_id not in live:
            engine.storage.release(workspace_id)
            removed += 1
    return removed + _reconcile_disks(engine)


def _reconcile_disks(engine: Engine) -> int:
    records = [ws for ws in engine.store.list_workspaces() if ws.state != State.DESTROYING]
    expected: dict[str, int | None] = {
        workspace_disk(ws.id): ws.storage.disk_mib for ws in records if ws.storage.disk_mib
    }
    expected |= engine.volumes.expected_disks() | engine.snapshots.expected_disks()
    removed = engine.disks.reconcile(expected) + engine.snapshots.remove_strays()
    live_keys = {data_key_id(ws.id) for ws in engine.store.list_workspaces()}
    for key_id in engine.keyring.ids():
        if key_id.startswith("workspace:") and key_id not in live_keys:
            engine.keyring.destroy(key_id)
            removed += 1
    return removed
