"""Bounded time series: ring buffers, minute averages, and the merged history."""

from __future__ import annotations

import math

import pytest

from corral.metrics.series import FIELDS, History, MinuteAverages, Point, Ring


def point(t: float, cpu: float | None = 1.0, memory: float | None = 100.0) -> Point:
    return Point(t, cpu_percent=cpu, memory_bytes=memory)


def test_ring_keeps_the_last_capacity_points_in_order() -> None:
    ring = Ring(3)
    for t in range(5):
        ring.append(point(t, cpu=t))
    assert len(ring) == 3
    assert [p.time for p in ring.points()] == [2, 3, 4]
    assert [p.cpu_percent for p in ring.points()] == [2, 3, 4]
    assert ring.oldest_time == 2
    assert [p.time for p in ring.points(since=3)] == [3, 4]


def test_ring_stores_unknown_values_as_none() -> None:
    ring = Ring(2)
    ring.append(point(0, cpu=None))
    assert ring.points()[0].cpu_percent is None
    assert ring.points()[0].pids is None


def test_ring_column_tail() -> None:
    ring = Ring(4)
    assert ring.column("cpu_percent", 3) == []
    for t in range(6):
        ring.append(point(t, cpu=t * 10))
    assert ring.column("cpu_percent", 3) == [30, 40, 50]
    assert ring.column("cpu_percent", 10) == [20, 30, 40, 50]
    assert ring.column("cpu_percent", 0) == []


def test_ring_refuses_zero_capacity() -> None:
    with pytest.raises(ValueError):
        Ring(0)


def test_minute_averages_close_a_window_when_the_next_starts() -> None:
    averages = MinuteAverages(60)
    assert averages.add(point(0, cpu=10)) is None
    assert averages.add(point(30, cpu=20, memory=None)) is None
    closed = averages.add(point(61, cpu=99))
    assert closed is not None
    assert closed.time == 0 and closed.cpu_percent == 15 and closed.memory_bytes == 100
    assert closed.pids is None  # never known in that window


def test_history_downsamples_older_points() -> None:
    history = History(interval=5, fine_span=60, coarse_step=60, coarse_span=600)
    assert history.points() == []
    for t in range(0, 300, 5):
        history.append(point(t, cpu=t))
    fine = history.fine.points()
    assert len(fine) == 12 and fine[0].time == 240  # the last minute at 5 s
    merged = history.points()
    coarse = [p for p in merged if p.time < 240]
    assert [p.time for p in coarse] == [0, 60, 120, 180]
    assert coarse[0].cpu_percent == pytest.approx(sum(range(0, 60, 5)) / 12)
    assert merged[len(coarse) :] == fine
    times = [p.time for p in merged]
    assert times == sorted(times)
    assert [p.time for p in history.points(since=250)] == list(range(250, 300, 5))
    assert history.tail("cpu_percent", 2) == [290, 295]


def test_history_memory_is_bounded() -> None:
    history = History(interval=1, fine_span=10, coarse_step=2, coarse_span=10)
    for t in range(1000):
        history.append(point(t))
    assert len(history.fine) == 10 and len(history.coarse) == 5


def test_point_fields_are_the_series_columns() -> None:
    assert FIELDS[0] == "cpu_percent" and "disk_used_bytes" in FIELDS
    assert not math.isnan(Point(0, *([1.0] * len(FIELDS)))[1])
