"""The supervisor: watches running workspaces, applies restart policies and TTLs.

A loop on its own thread. Restarts back off exponentially (0.1 s doubling, capped), so a
crash loop costs little and is visible as a growing `restart_count`.
"""

from __future__ import annotations

import logging
import threading
import time

from corral.engine.engine import Engine, utcnow
from corral.engine.spec import WorkspaceRecord
from corral.engine.states import Action, State
from corral.errors import CorralError, NotFound

log = logging.getLogger("corral.supervisor")

BACKOFF_START_S = 0.1
BACKOFF_CAP_S = 30.0
# A process that stayed up this long is healthy again: its backoff resets.
BACKOFF_RESET_AFTER_S = 10.0


def should_restart(policy: str, exit_code: int | None) -> bool:
    if policy == "always":
        return True
    if policy == "on-failure":
        return exit_code != 0
    return False


def backoff_delay(consecutive_restarts: int) -> float:
    return min(BACKOFF_START_S * (2 ** max(consecutive_restarts - 1, 0)), BACKOFF_CAP_S)


class Supervisor:
    def __init__(self, engine: Engine, interval: float = 0.25) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consecutive: dict[str, int] = {}
        self._started_at: dict[str, float] = {}
        self._restart_due: dict[str, float] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # the supervisor must outlive any one bad workspace
                log.exception("supervisor tick failed")

    def tick(self) -> None:
        now = utcnow()
        for ws in self.engine.store.list_workspaces(
            states=[State.RUNNING, State.PAUSED, State.STOPPED]
        ):
            if ws.expires_at is not None and ws.expires_at <= now:
                self._expire(ws)
            elif ws.state == State.RUNNING:
                self._watch(ws)
            elif ws.id in self._restart_due:
                self._maybe_restart(ws)

    def _expire(self, ws: WorkspaceRecord) -> None:
        log.info("workspace %s reached its TTL", ws.id)
        self.engine.emit(ws, "expired", f"TTL of {ws.ttl_seconds}s reached", ttl=ws.ttl_seconds)
        try:
            self.engine.destroy(ws.id, ws.owner)
        except (NotFound, CorralError) as exc:
            log.warning("TTL destroy of %s failed: %s", ws.id, exc)
        self._forget(ws.id)

    def _watch(self, ws: WorkspaceRecord) -> None:
        pid = ws.extra.get("pid")
        if not isinstance(pid, int):
            return
        self._started_at.setdefault(ws.id, time.monotonic())
        exited = self.engine.runtime.reap(ws.id, pid)
        if exited is None:
            if time.monotonic() - self._started_at[ws.id] > BACKOFF_RESET_AFTER_S:
                self._consecutive.pop(ws.id, None)
            return
        with self.engine.locked(ws.id):
            current = self.engine.store.get_workspace(ws.id)
            if current.state != State.RUNNING or current.extra.get("pid") != pid:
                return  # someone stopped or restarted it meanwhile
            current.last_exit_code = exited.exit_code
            current.last_exit_at = utcnow()
            current.extra.pop("pid", None)
            self.engine.runtime.delete(ws.id)
            self.engine._transition(current, Action.CRASH)
            self._started_at.pop(ws.id, None)
            self.engine.emit(current, "exit", f"main process exited with {exited.exit_code}",
                             exit_code=exited.exit_code)  # fmt: skip
            if should_restart(current.restart, exited.exit_code):
                count = self._consecutive.get(ws.id, 0) + 1
                self._consecutive[ws.id] = count
                self._restart_due[ws.id] = time.monotonic() + backoff_delay(count)

    def _maybe_restart(self, ws: WorkspaceRecord) -> None:
        if time.monotonic() < self._restart_due[ws.id]:
            return
        self._restart_due.pop(ws.id, None)
        with self.engine.locked(ws.id):
            current = self.engine.store.get_workspace(ws.id)
            if current.state != State.STOPPED:
                return
            try:
                self.engine._boot(current)
            except CorralError as exc:
                current.error = f"restart failed: {exc}"
                self.engine._transition(current, Action.FAIL)
                return
            current.restart_count += 1
            current.error = None
            self.engine._transition(current, Action.RESTART)
            self.engine.emit(current, "restart", f"restarted ({current.restart_count})",
                             restart_count=current.restart_count)  # fmt: skip
            self._started_at[ws.id] = time.monotonic()

    def _forget(self, workspace_id: str) -> None:
        for table in (self._consecutive, self._started_at, self._restart_due):
            table.pop(workspace_id, None)
