"""The Prometheus text exposition format (version 0.0.4) of the sampler's latest readings.

Counters are exported raw (`..._total`, let Prometheus take rates); gauges as last sampled.
Every per-workspace series carries `workspace_id`, `name` and `owner` labels; the
`corral_workspace_info` series carries the rest (image, state, runtime) as labels, to join on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from corral.engine.spec import WorkspaceRecord
from corral.metrics.sampler import Sampler, Snapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class Metric:
    name: str
    type: str  # counter | gauge
    help: str
    value: Callable[[Snapshot], float | int | None]


SNAPSHOT_METRICS = (
    Metric("corral_workspace_cpu_seconds_total", "counter",
           "CPU time used by the workspace's processes since it (re)started.",
           lambda s: s.cpu_usage_seconds),
    Metric("corral_workspace_cpu_limit_cores", "gauge", "CPU limit in cores.",
           lambda s: s.cpu_limit),
    Metric("corral_workspace_memory_working_set_bytes", "gauge",
           "Memory in use, page cache that can be reclaimed excluded.",
           lambda s: s.memory_bytes),
    Metric("corral_workspace_memory_peak_bytes", "gauge", "Highest memory usage seen.",
           lambda s: s.memory_peak_bytes),
    Metric("corral_workspace_memory_limit_bytes", "gauge", "Memory limit.",
           lambda s: s.memory_limit_bytes),
    Metric("corral_workspace_pids", "gauge", "Processes and threads.", lambda s: s.pids),
    Metric("corral_workspace_pids_limit", "gauge", "Process limit.", lambda s: s.pids_limit),
    Metric("corral_workspace_rootfs_used_bytes", "gauge",
           "Bytes held by the writable layer of the root filesystem.",
           lambda s: s.rootfs_used_bytes),
    Metric("corral_workspace_disk_used_bytes", "gauge", "Bytes used on the persistent disk.",
           lambda s: s.disk_used_bytes),
    Metric("corral_workspace_disk_size_bytes", "gauge", "Size of the persistent disk.",
           lambda s: s.disk_size_bytes),
    Metric("corral_workspace_network_receive_bytes_total", "counter",
           "Bytes received on the workspace's interfaces (loopback excluded).",
           lambda s: s.net_rx_bytes),
    Metric("corral_workspace_network_transmit_bytes_total", "counter",
           "Bytes sent on the workspace's interfaces (loopback excluded).",
           lambda s: s.net_tx_bytes),
    Metric("corral_workspace_io_read_bytes_total", "counter", "Bytes read from block devices.",
           lambda s: s.io_read_bytes),
    Metric("corral_workspace_io_write_bytes_total", "counter", "Bytes written to block devices.",
           lambda s: s.io_write_bytes),
    Metric("corral_workspace_oom_kills_total", "counter",
           "Processes the kernel killed for want of memory.", lambda s: s.oom_kills),
)  # fmt: skip


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(**pairs: str) -> str:
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in pairs.items()) + "}"


def number(value: float | int) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


def render(records: Sequence[WorkspaceRecord], sampler: Sampler) -> str:
    lines: list[str] = []

    def family(name: str, type_: str, help_: str, samples: list[tuple[str, float | int]]) -> None:
        lines.append(f"# HELP {name} {help_}")
        lines.append(f"# TYPE {name} {type_}")
        lines.extend(f"{name}{label} {number(value)}" for label, value in samples)

    ids = {ws.id: labels(workspace_id=ws.id, name=ws.name, owner=ws.owner) for ws in records}
    snapshots = [(ws, sampler.current(ws.id)) for ws in records]
    family("corral_workspace_info", "gauge", "One series per workspace; its labels describe it.", [
        (labels(workspace_id=ws.id, name=ws.name, owner=ws.owner, image=ws.image,
                state=ws.state.value, runtime=ws.runtime), 1)
        for ws in records
    ])  # fmt: skip
    states = Counter(ws.state.value for ws in records)
    family("corral_workspaces", "gauge", "Workspaces by state.",
           [(labels(state=state), n) for state, n in sorted(states.items())])  # fmt: skip
    family("corral_workspace_restarts_total", "counter",
           "Restarts of the main process by its restart policy.",
           [(ids[ws.id], ws.restart_count) for ws in records])  # fmt: skip
    for metric in SNAPSHOT_METRICS:
        samples = []
        for ws, snap in snapshots:
            value = metric.value(snap) if snap is not None else None
            if value is not None:
                samples.append((ids[ws.id], value))
        family(metric.name, metric.type, metric.help, samples)
    family("corral_workspace_anomaly", "gauge",
           "1 while the workspace is flagged: kind=cpu (far above its baseline) or memory "
           "(near its limit).",
           [(ids[ws.id][:-1] + f',kind="{a.kind}"}}', 1)
            for ws in records for a in sampler.anomalies(ws.id)])  # fmt: skip
    tick = sampler.last_tick
    family("corral_metrics_interval_seconds", "gauge", "Seconds between samples.",
           [("", sampler.interval)])  # fmt: skip
    family("corral_metrics_sampled_workspaces", "gauge", "Workspaces read by the last tick.",
           [("", tick.workspaces)])  # fmt: skip
    family("corral_metrics_tick_seconds", "gauge", "Wall time the last sampling tick took.",
           [("", tick.duration_s)])  # fmt: skip
    family("corral_metrics_tick_cpu_seconds", "gauge", "CPU time the last sampling tick took.",
           [("", tick.cpu_s)])  # fmt: skip
    return "\n".join(lines) + "\n"
