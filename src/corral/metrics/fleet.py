"""The fleet at a glance: totals over an owner's workspaces, and the host they share."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from corral.engine.spec import WorkspaceRecord
from corral.metrics.cgroup import read_bytes
from corral.metrics.sampler import Sampler


@dataclass(frozen=True)
class Host:
    cpus: int
    memory_bytes: int | None


@dataclass(frozen=True)
class Totals:
    workspaces_by_state: dict[str, int]
    cpu_percent: float  # of one core, summed
    memory_bytes: int
    memory_limit_bytes: int  # summed over the workspaces that have a limit
    pids: int
    net_rx_bytes_per_s: float
    net_tx_bytes_per_s: float
    anomalies: int


def parse_meminfo_total(data: bytes | None) -> int | None:
    for line in (data or b"").splitlines():
        if line.startswith(b"MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def host() -> Host:
    return Host(os.cpu_count() or 1, parse_meminfo_total(read_bytes("/proc/meminfo")))


def totals(records: Sequence[WorkspaceRecord], sampler: Sampler) -> Totals:
    cpu = rx = tx = 0.0
    memory = limit = pids = anomalies = 0
    for ws in records:
        snap = sampler.current(ws.id)
        anomalies += len(sampler.anomalies(ws.id))
        if snap is None:
            continue
        cpu += snap.cpu_percent or 0.0
        memory += snap.memory_bytes or 0
        limit += snap.memory_limit_bytes or 0
        pids += snap.pids or 0
        rx += snap.net_rx_bytes_per_s or 0.0
        tx += snap.net_tx_bytes_per_s or 0.0
    states = Counter(ws.state.value for ws in records)
    return Totals(dict(states), cpu, memory, limit, pids, rx, tx, anomalies)
