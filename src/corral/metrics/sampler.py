"""The sampler: every `interval` seconds, read each live workspace's counters and keep them.

A loop on its own thread, like the supervisor. Each tick lists the workspaces from the store,
reads the running and paused ones (cgroup files, the namespace's interface counters, disk
usage), turns counters into rates against the previous reading, appends a point to the
workspace's `History` and feeds its anomaly `Detector`; raised and cleared anomalies and
new OOM kills become events. Histories of destroyed workspaces are dropped; those of stopped
ones are kept, so what happened before a stop stays visible.

Queries (`current`, `history`, `anomalies`, `tail`) come from API request threads; one lock
guards the per-workspace state, held only to swap in results, never while reading files.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

from corral.drivers.storage.base import Storage
from corral.engine.events import Events
from corral.engine.spec import WorkspaceRecord
from corral.engine.states import State
from corral.metrics import disk, netdev
from corral.metrics.anomaly import Anomaly, Detector, Rules
from corral.metrics.cgroup import CgroupLayout, CgroupStats
from corral.metrics.series import History, Point
from corral.store import Store

log = logging.getLogger("corral.metrics")

DEFAULT_INTERVAL_S = 5.0
MIN_INTERVAL_S = 0.1
# Walking a writable layer costs more as it fills with files, so it is done less often the
# more it costs: the next walk waits WALK_COST_FACTOR times the last one's duration (at least
# one interval, at most WALK_MAX_WAIT_S). A small layer (~50 us) is walked every tick, a big
# one every few minutes; walks never take more than 1/10,000 of a core per workspace, until
# a layer is so big (> 30 ms to walk) that the cap applies.
WALK_COST_FACTOR = 10_000
WALK_MAX_WAIT_S = 300.0
SAMPLED = (State.RUNNING, State.PAUSED)
MIB = 1024 * 1024


@dataclass(frozen=True)
class Reading:
    """The raw counters of one workspace at one moment."""

    monotonic: float
    time: float
    cgroup: CgroupStats | None
    net: tuple[int, int] | None  # rx, tx bytes
    rootfs_used: int | None
    disk: tuple[int, int] | None  # used, size bytes of the persistent disk
    walk_seconds: float | None = None  # what walking the writable layer cost, if it was walked


@dataclass(frozen=True)
class Snapshot:
    """A workspace's metrics at one moment: counters, gauges and rates."""

    time: float
    cpu_percent: float | None  # of one core, over the last interval
    cpu_usage_seconds: float | None  # since the workspace (re)started
    cpu_limit: float | None  # cores
    memory_bytes: int | None
    memory_peak_bytes: int | None
    memory_limit_bytes: int | None
    pids: int | None
    pids_limit: int | None
    rootfs_used_bytes: int | None
    disk_used_bytes: int | None
    disk_size_bytes: int | None
    net_rx_bytes: int | None
    net_tx_bytes: int | None
    net_rx_bytes_per_s: float | None
    net_tx_bytes_per_s: float | None
    io_read_bytes: int | None
    io_write_bytes: int | None
    io_read_bytes_per_s: float | None
    io_write_bytes_per_s: float | None
    oom_kills: int | None
    restarts: int

    @property
    def memory_percent(self) -> float | None:
        if self.memory_bytes is None or not self.memory_limit_bytes:
            return None
        return 100.0 * self.memory_bytes / self.memory_limit_bytes

    def point(self) -> Point:
        return Point(
            self.time, self.cpu_percent, _float(self.memory_bytes), _float(self.pids),
            self.net_rx_bytes_per_s, self.net_tx_bytes_per_s, self.io_read_bytes_per_s,
            self.io_write_bytes_per_s, _float(self.rootfs_used_bytes),
            _float(self.disk_used_bytes),
        )  # fmt: skip


def _float(value: int | None) -> float | None:
    return None if value is None else float(value)


def rate(before: int | None, after: int | None, seconds: float) -> float | None:
    """Per-second increase; None when unknown, or when the counter went back (a restart)."""
    if before is None or after is None or seconds <= 0 or after < before:
        return None
    return (after - before) / seconds


def derive(previous: Reading | None, reading: Reading, ws: WorkspaceRecord) -> Snapshot:
    """The snapshot of `reading`, with rates taken against `previous` (None: no rates yet)."""
    cg = reading.cgroup
    prev_cg = previous.cgroup if previous else None
    seconds = reading.monotonic - previous.monotonic if previous else 0.0

    def counter_rate(name: str) -> float | None:
        if cg is None or prev_cg is None:
            return None
        return rate(getattr(prev_cg, name), getattr(cg, name), seconds)

    cpu_ns_per_s = counter_rate("cpu_usage_ns")
    net, prev_net = reading.net, previous.net if previous else None
    memory_limit = cg.memory_limit_bytes if cg else None
    if memory_limit is None and ws.limits.memory_mib:
        memory_limit = ws.limits.memory_mib * MIB
    return Snapshot(
        time=reading.time,
        cpu_percent=None if cpu_ns_per_s is None else cpu_ns_per_s / 1e7,
        cpu_usage_seconds=cg.cpu_usage_ns / 1e9 if cg and cg.cpu_usage_ns is not None else None,
        cpu_limit=ws.limits.cpu,
        memory_bytes=cg.memory_bytes if cg else None,
        memory_peak_bytes=cg.memory_peak_bytes if cg else None,
        memory_limit_bytes=memory_limit,
        pids=cg.pids if cg else None,
        pids_limit=cg.pids_limit if cg else None,
        rootfs_used_bytes=reading.rootfs_used,
        disk_used_bytes=reading.disk[0] if reading.disk else None,
        disk_size_bytes=reading.disk[1] if reading.disk else None,
        net_rx_bytes=net[0] if net else None,
        net_tx_bytes=net[1] if net else None,
        net_rx_bytes_per_s=rate(prev_net[0], net[0], seconds) if net and prev_net else None,
        net_tx_bytes_per_s=rate(prev_net[1], net[1], seconds) if net and prev_net else None,
        io_read_bytes=cg.io_read_bytes if cg else None,
        io_write_bytes=cg.io_write_bytes if cg else None,
        io_read_bytes_per_s=counter_rate("io_read_bytes"),
        io_write_bytes_per_s=counter_rate("io_write_bytes"),
        oom_kills=cg.oom_kills if cg else None,
        restarts=ws.restart_count,
    )


@dataclass
class _Tracked:
    """What the sampler keeps per workspace."""

    history: History
    detector: Detector
    reading: Reading | None = None
    snapshot: Snapshot | None = None
    disk_due: float = 0.0  # monotonic time of the next writable-layer walk


@dataclass(frozen=True)
class TickStats:
    """The cost of the last tick, for the sampler's own metrics."""

    time: float = 0.0
    workspaces: int = 0
    duration_s: float = 0.0
    cpu_s: float = 0.0


@dataclass
class Sampler:
    store: Store  # the workspaces to sample
    storage: Storage  # where their writable layers are
    events: Events  # where OOM kills and anomalies are reported
    interval: float = DEFAULT_INTERVAL_S
    rules: Rules = field(default_factory=Rules)
    layout: CgroupLayout = field(default_factory=CgroupLayout.detect)
    last_tick: TickStats = field(default_factory=TickStats)

    def __post_init__(self) -> None:
        if not self.interval >= MIN_INTERVAL_S:
            raise ValueError(f"the metrics interval must be at least {MIN_INTERVAL_S}s")
        self._tracked: dict[str, _Tracked] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # metrics must never take the daemon down
                log.exception("metrics tick failed")
            due += self.interval
            now = time.monotonic()
            if due < now:  # fell behind (a slow tick, a suspended host): skip, don't burst
                due = now + self.interval
            self._stop.wait(due - now)

    def tick(self) -> None:
        started, started_cpu = time.perf_counter(), time.thread_time()
        records = self.store.list_workspaces()  # every workspace not destroyed
        with self._lock:
            for gone in self._tracked.keys() - {ws.id for ws in records}:
                del self._tracked[gone]
        sampled = 0
        for ws in records:
            if ws.state not in SAMPLED:
                self._idle(ws.id)
                continue
            try:
                self.sample(ws)
                sampled += 1
            except Exception:
                log.exception("sampling workspace %s failed", ws.id)
        self.last_tick = TickStats(time.time(), sampled, time.perf_counter() - started,
                                   time.thread_time() - started_cpu)  # fmt: skip

    def _idle(self, workspace_id: str) -> None:
        """A workspace with no processes (stopped, failed): keep its history, nothing live."""
        with self._lock:
            tracked = self._tracked.get(workspace_id)
            if tracked is not None and tracked.snapshot is not None:
                tracked.reading = tracked.snapshot = None
                tracked.detector = Detector(self.rules)

    # -- one workspace --------------------------------------------------------------------

    def read(self, ws: WorkspaceRecord, tracked: _Tracked | None) -> Reading:
        """The raw counters of one workspace (file reads only, no shared state touched)."""
        now = time.monotonic()
        pid = ws.extra.get("pid")
        net = netdev.read_net_dev(pid) if isinstance(pid, int) else None
        rootfs_used = tracked.reading.rootfs_used if tracked and tracked.reading else None
        walk_seconds = None
        if tracked is None or now >= tracked.disk_due:
            started = time.perf_counter()
            rootfs_used = disk.tree_usage(str(self.storage.upper_dir(ws.id)))
            walk_seconds = time.perf_counter() - started
        data = None
        if isinstance(pid, int) and ws.storage.disk_mib is not None:
            data = disk.mounted_usage(f"/proc/{pid}/root", ws.storage.disk_path)
        cgroup = self.layout.read(ws.id)
        return Reading(now, time.time(), cgroup, net, rootfs_used, data, walk_seconds)

    def sample(self, ws: WorkspaceRecord) -> Snapshot:
        tracked = self._tracked.get(ws.id)
        reading = self.read(ws, tracked)
        if tracked is None:
            tracked = _Tracked(History(self.interval), Detector(self.rules))
        if reading.walk_seconds is not None:
            wait = min(max(reading.walk_seconds * WALK_COST_FACTOR, self.interval), WALK_MAX_WAIT_S)
            tracked.disk_due = reading.monotonic + wait - self.interval / 2  # due by that tick
        snapshot = derive(tracked.reading, reading, ws)
        previous = tracked.snapshot
        with self._lock:  # queries read the detector's active anomalies from other threads
            changes = tracked.detector.observe(
                snapshot.time,
                snapshot.cpu_percent,
                snapshot.memory_bytes,
                snapshot.memory_limit_bytes,
                snapshot.rootfs_used_bytes,
            )
            tracked.history.append(snapshot.point())
            tracked.reading, tracked.snapshot = reading, snapshot
            self._tracked[ws.id] = tracked
        for change in changes:
            a = change.anomaly
            if change.raised:
                self.events.about(ws, "anomaly", a.message, kind=a.kind, value=round(a.value, 2),
                                 threshold=round(a.threshold, 2))  # fmt: skip
            else:
                self.events.about(ws, "anomaly_cleared", f"{a.kind} back to normal", kind=a.kind)
        self._report_oom(ws, previous, snapshot)
        return snapshot

    def _report_oom(self, ws: WorkspaceRecord, before: Snapshot | None, now: Snapshot) -> None:
        if before is None or before.oom_kills is None or now.oom_kills is None:
            return
        killed = now.oom_kills - before.oom_kills
        if killed > 0:
            limit = now.memory_limit_bytes
            detail = f" ({limit // MIB} MiB limit)" if limit else ""
            self.events.about(ws, "oom_kill", f"{killed} process(es) killed: out of memory{detail}",
                             killed=killed, oom_kills=now.oom_kills)  # fmt: skip

    # -- queries --------------------------------------------------------------------------

    def current(self, workspace_id: str) -> Snapshot | None:
        with self._lock:
            tracked = self._tracked.get(workspace_id)
            return tracked.snapshot if tracked else None

    def history(self, workspace_id: str, since: float = -math.inf) -> list[Point]:
        with self._lock:
            tracked = self._tracked.get(workspace_id)
            return tracked.history.points(since) if tracked else []

    def tail(self, workspace_id: str, name: str, last: int) -> list[float | None]:
        with self._lock:
            tracked = self._tracked.get(workspace_id)
            return tracked.history.tail(name, last) if tracked else []

    def anomalies(self, workspace_id: str) -> list[Anomaly]:
        with self._lock:
            tracked = self._tracked.get(workspace_id)
            return list(tracked.detector.active.values()) if tracked else []
