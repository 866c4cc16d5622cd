"""Metrics: one workspace's history, the fleet summary, and Prometheus' text format.

`GET /metrics` needs an API key like every other call (Prometheus: `authorization:
{credentials: <key>}` in the scrape config). An admin key sees every owner's workspaces,
any other key its own.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from corral.api import schemas
from corral.api.routes.workspaces import Who, engine_of
from corral.errors import CorralError, InvalidSpec
from corral.metrics import fleet, prometheus
from corral.metrics.anomaly import Anomaly
from corral.metrics.sampler import Sampler, Snapshot
from corral.metrics.series import Point

router = APIRouter(tags=["metrics"])
DEFAULT_SINCE_S = 3600.0
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class MetricsUnavailable(CorralError):
    status_code = 503
    code = "unavailable"


def sampler_of(request: Request) -> Sampler:
    sampler = getattr(request.app.state, "metrics", None)
    if sampler is None:
        raise MetricsUnavailable("metrics are not collected by this daemon")
    return sampler  # type: ignore[no-any-return]


def parse_since(text: str | None, now: float) -> float:
    """Unix time from `since`: an ISO 8601 time, or a duration back from now (`90s`, `15m`,
    `6h`, `1d`); the last hour when absent."""
    if not text:
        return now - DEFAULT_SINCE_S
    if match := _DURATION.match(text.strip()):
        return now - float(match[1]) * _UNITS[match[2]]
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidSpec(
            f"since={text!r} is neither a time nor a duration",
            hint="e.g. since=15m, since=24h or since=2025-01-01T12:00:00Z",
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _time(unix: float) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


def _int(value: float | None) -> int | None:
    return None if value is None else round(value)


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def point_out(p: Point) -> schemas.MetricsPoint:
    return schemas.MetricsPoint(
        time=_time(p.time), cpu_percent=_round(p.cpu_percent), memory_bytes=_int(p.memory_bytes),
        pids=_int(p.pids), net_rx_bytes_per_s=_round(p.net_rx_bytes_per_s, 1),
        net_tx_bytes_per_s=_round(p.net_tx_bytes_per_s, 1),
        io_read_bytes_per_s=_round(p.io_read_bytes_per_s, 1),
        io_write_bytes_per_s=_round(p.io_write_bytes_per_s, 1),
        rootfs_used_bytes=_int(p.rootfs_used_bytes), disk_used_bytes=_int(p.disk_used_bytes),
    )  # fmt: skip


def now_out(s: Snapshot) -> schemas.MetricsNow:
    return schemas.MetricsNow(
        time=_time(s.time), cpu_percent=_round(s.cpu_percent),
        cpu_usage_seconds=_round(s.cpu_usage_seconds, 3), cpu_limit=s.cpu_limit,
        memory_bytes=s.memory_bytes, memory_peak_bytes=s.memory_peak_bytes,
        memory_limit_bytes=s.memory_limit_bytes, memory_percent=_round(s.memory_percent),
        pids=s.pids, pids_limit=s.pids_limit, rootfs_used_bytes=s.rootfs_used_bytes,
        disk_used_bytes=s.disk_used_bytes, disk_size_bytes=s.disk_size_bytes,
        net_rx_bytes=s.net_rx_bytes, net_tx_bytes=s.net_tx_bytes,
        net_rx_bytes_per_s=_round(s.net_rx_bytes_per_s, 1),
        net_tx_bytes_per_s=_round(s.net_tx_bytes_per_s, 1),
        io_read_bytes=s.io_read_bytes, io_write_bytes=s.io_write_bytes,
        io_read_bytes_per_s=_round(s.io_read_bytes_per_s, 1),
        io_write_bytes_per_s=_round(s.io_write_bytes_per_s, 1),
        oom_kills=s.oom_kills, restarts=s.restarts,
    )  # fmt: skip


def anomaly_out(a: Anomaly) -> schemas.Anomaly:
    return schemas.Anomaly(kind=a.kind, message=a.message, since=_time(a.since),
                           value=round(a.value, 2), threshold=round(a.threshold, 2))  # fmt: skip


def _tail(values: list[float | None], digits: int | None) -> list[float | None]:
    return [None if v is None else round(v, digits) for v in values]


@router.get("/v1/workspaces/{ref}/metrics", response_model=schemas.WorkspaceMetrics)
def workspace_metrics(
    ref: str,
    request: Request,
    who: Who,
    since: Annotated[str | None, Query(description="ISO time or duration (15m, 24h); "
                                                   "default: the last hour")] = None,
) -> schemas.WorkspaceMetrics:  # fmt: skip
    sampler = sampler_of(request)
    ws = engine_of(request).get(ref, who.owner)
    current = sampler.current(ws.id)
    return schemas.WorkspaceMetrics(
        workspace_id=ws.id,
        name=ws.name,
        state=ws.state.value,
        interval_seconds=sampler.interval,
        current=now_out(current) if current else None,
        anomalies=[anomaly_out(a) for a in sampler.anomalies(ws.id)],
        history=[point_out(p) for p in sampler.history(ws.id, parse_since(since, time.time()))],
    )


@router.get("/v1/metrics/summary", response_model=schemas.MetricsSummary)
def summary(
    request: Request,
    who: Who,
    points: Annotated[int, Query(ge=0, le=720, description="history points per workspace")] = 60,
) -> schemas.MetricsSummary:
    sampler = sampler_of(request)
    records = engine_of(request).list(who.owner)
    totals = fleet.totals(records, sampler)
    host = fleet.host()
    tick = sampler.last_tick
    rows = []
    for ws in records:
        current = sampler.current(ws.id)
        rows.append(schemas.FleetWorkspace(
            id=ws.id, name=ws.name, image=ws.image, state=ws.state.value,
            current=now_out(current) if current else None,
            anomalies=[anomaly_out(a) for a in sampler.anomalies(ws.id)],
            cpu_history=_tail(sampler.tail(ws.id, "cpu_percent", points), 2),
            memory_history=_tail(sampler.tail(ws.id, "memory_bytes", points), 0),
        ))  # fmt: skip
    return schemas.MetricsSummary(
        time=datetime.now(UTC),
        host=schemas.HostInfo(cpus=host.cpus, memory_bytes=host.memory_bytes),
        sampler=schemas.SamplerInfo(
            interval_seconds=sampler.interval,
            workspaces=tick.workspaces,
            tick_ms=round(tick.duration_s * 1000, 3),
            tick_cpu_ms=round(tick.cpu_s * 1000, 3),
        ),  # fmt: skip
        workspaces_by_state=totals.workspaces_by_state,
        cpu_percent=round(totals.cpu_percent, 2),
        memory_bytes=totals.memory_bytes,
        memory_limit_bytes=totals.memory_limit_bytes,
        pids=totals.pids,
        net_rx_bytes_per_s=round(totals.net_rx_bytes_per_s, 1),
        net_tx_bytes_per_s=round(totals.net_tx_bytes_per_s, 1),
        anomalies=totals.anomalies,
        workspaces=rows,
    )


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {prometheus.CONTENT_TYPE: {}}}})  # fmt: skip
def prometheus_metrics(request: Request, who: Who) -> PlainTextResponse:
    """Prometheus text format. Needs `Authorization: Bearer <key>`; an admin key sees all."""
    sampler = sampler_of(request)
    engine = engine_of(request)
    records = engine.store.list_workspaces() if who.role == "admin" else engine.list(who.owner)
    return PlainTextResponse(prometheus.render(records, sampler),
                             media_type=prometheus.CONTENT_TYPE)  # fmt: skip
