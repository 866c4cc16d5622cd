"""The supervisor: watches workspaces over time and acts on them.

A loop on its own thread, every `interval` seconds:
- main process exits: recorded (code, time, event); restarted per policy with exponential
  backoff (0.1 s doubling, capped at 30 s); `on-failure` gives up after `max_retries`
  restarts in a row; a process that stayed up `BACKOFF_RESET_AFTER_S` resets the count;
- TTL expiry: `on_expire` = destroy | pause | stop, within about one interval;
- idle auto-pause: no API activity for `idle_timeout_seconds` and CPU under
  `IDLE_CPU_FRACTION` of a core over that window -> paused (resumed on the next call).
Restart bookkeeping lives in the record (`extra`), so a daemon restart loses none of it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from corral.drivers.runtime.cgroups import cpu_usage_ns
from corral.engine.engine import Engine, utcnow
from corral.engine.spec import WorkspaceRecord
from corral.engine.states import Action, State
from corral.errors import Conflict, CorralError, NotFound

log = logging.getLogger("corral.supervisor")

BACKOFF_START_S = 0.1
BACKOFF_CAP_S = 30.0
BACKOFF_RESET_AFTER_S = 10.0
CRASH_LOOP_RESTARTS = 3
IDLE_CPU_FRACTION = 0.05


def should_restart(policy: str, exit_code: int | None) -> bool:
    if policy == "always":
        return True
    if policy == "on-failure":
        return exit_code != 0
    return False


def backoff_delay(consecutive_restarts: int, cap: float = BACKOFF_CAP_S) -> float:
    return min(BACKOFF_START_S * (2 ** max(consecutive_restarts - 1, 0)), cap)


class Supervisor:
    def __init__(
        self, engine: Engine, interval: float = 0.25, backoff_cap: float = BACKOFF_CAP_S
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.backoff_cap = backoff_cap
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Idle tracking: (monotonic time, cpu ns) at the start of the current idle window.
        self._idle_mark: dict[str, tuple[float, int]] = {}

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
            try:
                if self._expired(ws, now):
                    self._expire(ws)
                elif ws.state == State.RUNNING:
                    self._watch(ws)
                    self._check_idle(ws)
                elif ws.state == State.STOPPED and "restart_due_at" in ws.extra:
                    self._maybe_restart(ws, now)
            except (NotFound, Conflict):
                continue  # changed under our feet by an API call; next tick sees the truth

    # -- TTL -------------------------------------------------------------------------------

    @staticmethod
    def _expired(ws: WorkspaceRecord, now: datetime) -> bool:
        if ws.expires_at is None or ws.expires_at > now:
            return False
        # Paused time that does not count: the clock is stopped while paused.
        return not (ws.state == State.PAUSED and not ws.lifecycle.ttl_counts_paused)

    def _expire(self, ws: WorkspaceRecord) -> None:
        action = ws.lifecycle.on_expire
        log.info("workspace %s reached its TTL: %s", ws.id, action)
        self.engine.emit(ws, "expired", f"TTL of {ws.ttl_seconds}s reached: {action}",
                         ttl=ws.ttl_seconds, action=action)  # fmt: skip
        try:
            if action == "destroy":
                self.engine.destroy(ws.id, ws.owner)
            else:
                with self.engine.locked(ws.id):
                    current = self.engine.store.get_workspace(ws.id)
                    current.expires_at = None  # acted on; set_timeout arms it again
                    self.engine.store.save_workspace(current)
                if action == "pause" and ws.state == State.RUNNING:
                    self.engine.pause(ws.id, ws.owner, reason="ttl")
                elif action == "stop":
                    self.engine.stop(ws.id, ws.owner)
        except CorralError as exc:
            log.warning("TTL %s of %s failed: %s", action, ws.id, exc)
        self._idle_mark.pop(ws.id, None)

    # -- main process ----------------------------------------------------------------------

    def _watch(self, ws: WorkspaceRecord) -> None:
        pid = ws.extra.get("pid")
        if not isinstance(pid, int):
            return
        exited = self.engine.runtime.reap(ws.id, pid)
        if exited is None:
            self._maybe_reset_backoff(ws)
            return
        with self.engine.locked(ws.id):
            current = self.engine.store.get_workspace(ws.id)
            if current.state != State.RUNNING or current.extra.get("pid") != pid:
                return  # someone stopped or restarted it meanwhile
            current.last_exit_code = exited.exit_code
            current.last_exit_at = utcnow()
            current.extra.pop("pid", None)
            current.extra.pop("started_at", None)
            self.engine.runtime.delete(ws.id)
            self.engine._transition(current, Action.CRASH)
            self.engine.emit(current, "exit", f"main process exited with {exited.exit_code}",
                             exit_code=exited.exit_code)  # fmt: skip
            if exited.exit_code == 137 and self._oom_killed(current):
                self.engine.emit(current, "oom", "main process killed: out of memory")
            if not should_restart(current.restart, exited.exit_code):
                return
            count = int(str(current.extra.get("consecutive_restarts") or 0)) + 1
            limit = current.lifecycle.max_retries
            if current.restart == "on-failure" and limit is not None and count > limit:
                current.error = f"gave up after {limit} restarts in a row"
                self.engine._transition(current, Action.FAIL)
                self.engine.emit(current, "gave_up", current.error, restarts=limit)
                return
            delay = backoff_delay(count, self.backoff_cap)
            current.extra["consecutive_restarts"] = count
            current.extra["restart_due_at"] = (utcnow() + timedelta(seconds=delay)).isoformat()
            self.engine.store.save_workspace(current)
            if count == CRASH_LOOP_RESTARTS:
                self.engine.emit(current, "crash_loop", f"restarting in a loop ({count} in a row)",
                                 restarts=count)  # fmt: skip

    def _oom_killed(self, ws: WorkspaceRecord) -> bool:
        return bool(ws.limits.memory_mib)  # refined by the metrics sampler's OOM counter

    def _maybe_reset_backoff(self, ws: WorkspaceRecord) -> None:
        started = ws.extra.get("started_at")
        if not ws.extra.get("consecutive_restarts") or not started:
            return
        if (utcnow() - datetime.fromisoformat(str(started))).total_seconds() > (
            BACKOFF_RESET_AFTER_S
        ):
            with self.engine.locked(ws.id):
                current = self.engine.store.get_workspace(ws.id)
                current.extra.pop("consecutive_restarts", None)
                self.engine.store.save_workspace(current)

    def _maybe_restart(self, ws: WorkspaceRecord, now: datetime) -> None:
        if datetime.fromisoformat(str(ws.extra["restart_due_at"])) > now:
            return
        with self.engine.locked(ws.id):
            current = self.engine.store.get_workspace(ws.id)
            if current.state != State.STOPPED or "restart_due_at" not in current.extra:
                return
            current.extra.pop("restart_due_at", None)
            try:
                self.engine.runtime.delete(ws.id)
                self.engine._boot(current)
            except CorralError as exc:
                current.error = f"restart failed: {exc}"
                self.engine._transition(current, Action.FAIL)
                return
            current.restart_count += 1
            current.error = None
            current.extra["started_at"] = utcnow().isoformat()
            self.engine._transition(current, Action.RESTART)
            self.engine.emit(current, "restart", f"restarted ({current.restart_count})",
                             restart_count=current.restart_count)  # fmt: skip

    # -- idle ------------------------------------------------------------------------------

    def _check_idle(self, ws: WorkspaceRecord) -> None:
        timeout = ws.lifecycle.idle_timeout_seconds
        if not timeout:
            return
        now = time.monotonic()
        last_activity = self.engine.activity.setdefault(ws.id, now)
        cpu = cpu_usage_ns(ws.id) or 0
        mark = self._idle_mark.get(ws.id)
        if mark is None or mark[0] < last_activity:
            self._idle_mark[ws.id] = (max(last_activity, now - 0.001), cpu)
            return
        window = now - mark[0]
        if window < timeout:
            return
        cpu_fraction = (cpu - mark[1]) / 1e9 / window
        if cpu_fraction >= IDLE_CPU_FRACTION:
            self._idle_mark[ws.id] = (now, cpu)  # busy: a new window starts
            return
        self._idle_mark.pop(ws.id, None)
        self.engine.pause(ws.id, ws.owner, reason="idle")
        self.engine.emit(
            ws, "idle_pause", f"paused after {timeout}s idle",
            idle_seconds=round(window, 1), cpu_fraction=round(cpu_fraction, 4),
        )  # fmt: skip
