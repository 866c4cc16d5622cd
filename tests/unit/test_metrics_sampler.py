"""The sampler without root: a cgroup tree laid out in a temporary directory (cgroupfs is
plain files to the sampler), with the real store, storage layout and event log."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from corral.drivers.storage.images import ImageStore
from corral.drivers.storage.overlay import OverlayStorage
from corral.engine.events import Events
from corral.engine.spec import Limits, WorkspaceRecord
from corral.engine.states import State
from corral.metrics import prometheus
from corral.metrics.anomaly import Rules
from corral.metrics.cgroup import CgroupLayout, CgroupStats
from corral.metrics.fleet import parse_meminfo_total, totals
from corral.metrics.sampler import Reading, Sampler, derive, rate
from corral.store import Store

MIB = 1024 * 1024


def record(id: str, state: State = State.RUNNING, **changes: Any) -> WorkspaceRecord:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    ws = WorkspaceRecord(id=id, owner="alice", name=f"ws-{id}", image="host", state=state,
                         command=None, env={}, limits=Limits(memory_mib=100), restart="never",
                         labels={}, created_at=now, updated_at=now)  # fmt: skip
    for key, value in changes.items():
        setattr(ws, key, value)
    return ws


@dataclass
class Parts:
    """The sampler's real collaborators: a store (SQLite in a temporary directory), the
    overlay storage's layout and the event log."""

    store: Store
    storage: OverlayStorage
    events: Events

    @classmethod
    def make(cls, root: Path, *records: WorkspaceRecord) -> Parts:
        store = Store(f"sqlite:///{root / 'corral.db'}")
        for ws in records:
            store.insert_workspace(ws)
        storage = OverlayStorage(root / "workspaces", ImageStore(root / "images"))
        return cls(store, storage, Events(store))

    def sampler(self, **options: Any) -> Sampler:
        return Sampler(self.store, self.storage, self.events, **options)

    def set_state(self, ws: WorkspaceRecord, state: State) -> None:
        ws.state = state
        self.store.save_workspace(ws)

    def reported(self) -> list[dict[str, Any]]:
        return self.store.list_events(owner=None)


def cgroup_files(root: Path, id: str, memory: int, oom_kills: int = 0, cpu_ns: int = 0) -> None:
    files = {
        f"cpuacct/corral/{id}/cpuacct.usage": str(cpu_ns),
        f"memory/corral/{id}/memory.usage_in_bytes": str(memory),
        f"memory/corral/{id}/memory.max_usage_in_bytes": str(memory),
        f"memory/corral/{id}/memory.limit_in_bytes": str(100 * MIB),
        f"memory/corral/{id}/memory.oom_control": f"oom_kill {oom_kills}\n",
        f"memory/corral/{id}/memory.stat": "total_inactive_file 0\n",
        f"pids/corral/{id}/pids.current": "2",
        f"pids/corral/{id}/pids.max": "max",
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content + "\n")


def stats(cpu_ns: int | None = None, io: int | None = None) -> CgroupStats:
    return CgroupStats(cpu_usage_ns=cpu_ns, memory_bytes=10, memory_peak_bytes=20,
                       memory_limit_bytes=None, pids=1, pids_limit=None, oom_kills=0,
                       io_read_bytes=io, io_write_bytes=io)  # fmt: skip


def test_rate() -> None:
    assert rate(100, 300, 2.0) == 100.0
    assert rate(300, 100, 2.0) is None  # counter reset: the workspace restarted
    assert rate(None, 100, 2.0) is None
    assert rate(1, 2, 0.0) is None


def test_derive_turns_counters_into_rates() -> None:
    ws = record("a", restart_count=3)
    before = Reading(10.0, 1000.0, stats(cpu_ns=1_000_000_000, io=0), (0, 0), 4096, None)
    after = Reading(12.0, 1002.0, stats(cpu_ns=2_000_000_000, io=2048), (2000, 500), 4096,
                    (MIB, 10 * MIB))  # fmt: skip
    snap = derive(before, after, ws)
    assert snap.cpu_percent == pytest.approx(50.0)  # 1 s of CPU in 2 s: half a core
    assert snap.cpu_usage_seconds == 2.0
    assert snap.net_rx_bytes_per_s == 1000 and snap.net_tx_bytes_per_s == 250
    assert snap.io_write_bytes_per_s == 1024
    assert snap.memory_limit_bytes == 100 * MIB  # from the record when the cgroup has none
    assert snap.memory_percent == pytest.approx(10 / (100 * MIB) * 100)
    assert (snap.disk_used_bytes, snap.disk_size_bytes) == (MIB, 10 * MIB)
    assert snap.restarts == 3
    first = derive(None, after, ws)
    assert first.cpu_percent is None and first.net_rx_bytes_per_s is None
    assert first.point().cpu_percent is None and first.point().memory_bytes == 10.0


def test_tick_samples_live_workspaces_and_reports_oom_and_anomalies(tmp_path: Path) -> None:
    cgroups = tmp_path / "cgroup"
    running, stopped, gone = record("r1"), record("s1", State.STOPPED), record("d1")
    parts = Parts.make(tmp_path, running, stopped, gone)
    upper = parts.storage.upper_dir("r1")
    upper.mkdir(parents=True)
    (upper / "file").write_bytes(b"x" * 10000)
    for ws in ("r1", "d1"):
        cgroup_files(cgroups, ws, memory=10 * MIB)
    sampler = parts.sampler(interval=1, rules=Rules(sustain_samples=2),
                            layout=CgroupLayout("v1", cgroups))  # fmt: skip
    sampler.tick()
    assert sampler.last_tick.workspaces == 2
    snap = sampler.current("r1")
    assert snap is not None and snap.memory_bytes == 10 * MIB and snap.pids == 2
    assert snap.rootfs_used_bytes is not None and snap.rootfs_used_bytes >= 10000
    assert sampler.current("s1") is None

    parts.set_state(gone, State.DESTROYED)
    cgroup_files(cgroups, "r1", memory=95 * MIB, oom_kills=1)
    sampler.tick()
    cgroup_files(cgroups, "r1", memory=96 * MIB, oom_kills=1)
    sampler.tick()
    assert sampler.history("d1") == [] and sampler.current("d1") is None
    assert len(sampler.history("r1")) == 3
    assert sampler.tail("r1", "memory_bytes", 2) == [95 * MIB, 96 * MIB]
    reported = parts.reported()
    assert [(e["workspace_id"], e["type"]) for e in reported] == [("r1", "oom_kill"),
                                                                 ("r1", "anomaly")]  # fmt: skip
    assert reported[0]["data"] == {"killed": 1, "oom_kills": 1}
    assert reported[0]["message"].startswith("ws-r1: 1 process(es) killed")
    assert [a.kind for a in sampler.anomalies("r1")] == ["memory"]

    fleet = totals(parts.store.list_workspaces(), sampler)
    assert fleet.workspaces_by_state == {"running": 1, "stopped": 1}
    assert fleet.memory_bytes == 96 * MIB and fleet.anomalies == 1

    parts.set_state(running, State.STOPPED)  # stopped: history kept, nothing live, anomalies gone
    sampler.tick()
    assert sampler.current("r1") is None and sampler.anomalies("r1") == []
    assert len(sampler.history("r1")) == 3


def test_interval_must_be_positive(tmp_path: Path) -> None:
    parts = Parts.make(tmp_path)
    with pytest.raises(ValueError):
        parts.sampler(interval=0, layout=CgroupLayout("v1", tmp_path))


SAMPLE_LINE = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+$')


def test_prometheus_text_format(tmp_path: Path) -> None:
    cgroups = tmp_path / "cgroup"
    ws = record("p1", name='we"ird\\name')
    parts = Parts.make(tmp_path, ws)
    cgroup_files(cgroups, "p1", memory=5 * MIB, cpu_ns=1_500_000_000)
    sampler = parts.sampler(interval=1, layout=CgroupLayout("v1", cgroups))
    sampler.tick()
    text = prometheus.render([ws], sampler)
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-z_]+ .+$", line), line
        else:
            assert SAMPLE_LINE.match(line), line
    assert 'name="we\\"ird\\\\name"' in text
    assert re.search(r'^corral_workspace_cpu_seconds_total\{workspace_id="p1".*\} 1\.5$', text,
                     re.M)  # fmt: skip
    assert re.search(r"^corral_workspace_memory_working_set_bytes\{.*\} 5242880$", text, re.M)
    assert 'corral_workspaces{state="running"} 1' in text
    assert "# TYPE corral_workspace_oom_kills_total counter" in text


def test_meminfo_total() -> None:
    assert parse_meminfo_total(b"MemTotal:       16384 kB\nMemFree: 1 kB\n") == 16 * MIB
    assert parse_meminfo_total(None) is None
