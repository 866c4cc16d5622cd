"""Bounded time series: recent samples at full resolution, older ones averaged per minute.

Each workspace keeps two fixed-size rings: the last hour at the sampling interval (720
points at 5 s) and the last day at one minute (1440 points). Values are float32 in typed
arrays (~40 bytes a point, ~90 KB for a workspace with a full day), and the rings grow only
as samples arrive, so a short-lived sandbox costs little. A missing value (no previous
sample to compute a rate from, a counter the kernel does not have) is stored as NaN.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from typing import NamedTuple

FINE_SPAN_S = 3600.0
COARSE_STEP_S = 60.0
COARSE_SPAN_S = 24 * 3600.0


class Point(NamedTuple):
    """One sample of one workspace. `time` is Unix seconds; None: not known at that time."""

    time: float
    cpu_percent: float | None = None  # of one core
    memory_bytes: float | None = None
    pids: float | None = None
    net_rx_bytes_per_s: float | None = None
    net_tx_bytes_per_s: float | None = None
    io_read_bytes_per_s: float | None = None
    io_write_bytes_per_s: float | None = None
    rootfs_used_bytes: float | None = None
    disk_used_bytes: float | None = None


FIELDS: tuple[str, ...] = Point._fields[1:]
_NAN = float("nan")


def _stored(value: float | None) -> float:
    return _NAN if value is None else value


def _loaded(value: float) -> float | None:
    return None if math.isnan(value) else value


class Ring:
    """The last `capacity` points, oldest first, in columnar typed arrays."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a ring holds at least one point")
        self.capacity = capacity
        self._times = array("d")
        self._columns = [array("f") for _ in FIELDS]
        self._head = 0  # once full: the index of the oldest point, where the next one goes

    def __len__(self) -> int:
        return len(self._times)

    def append(self, point: Point) -> None:
        if len(self._times) < self.capacity:
            self._times.append(point.time)
            for column, value in zip(self._columns, point[1:], strict=True):
                column.append(_stored(value))
            return
        i = self._head
        self._times[i] = point.time
        for column, value in zip(self._columns, point[1:], strict=True):
            column[i] = _stored(value)
        self._head = (i + 1) % self.capacity

    def _order(self) -> Iterator[int]:
        yield from range(self._head, len(self._times))
        yield from range(0, self._head)

    @property
    def oldest_time(self) -> float | None:
        return self._times[self._head] if self._times else None

    def points(self, since: float = -math.inf) -> list[Point]:
        times, columns = self._times, self._columns
        return [
            Point(times[i], *(_loaded(c[i]) for c in columns))
            for i in self._order()
            if times[i] >= since
        ]

    def column(self, name: str, last: int) -> list[float | None]:
        """The last `last` values of one field, oldest first (for sparklines)."""
        if last <= 0:
            return []
        column = self._columns[FIELDS.index(name)]
        n = len(self._times)
        k = min(last, n)
        return [_loaded(column[(self._head + n - k + j) % n]) for j in range(k)]


class MinuteAverages:
    """Averages the points of each `step`-second window; hands back a window once it closes."""

    def __init__(self, step: float = COARSE_STEP_S) -> None:
        self.step = step
        self._window: float | None = None
        self._sums = [0.0] * len(FIELDS)
        self._counts = [0] * len(FIELDS)

    def add(self, point: Point) -> Point | None:
        window = point.time - point.time % self.step
        closed = None
        if self._window is not None and window != self._window:
            closed = self._average()
        if window != self._window:
            self._window = window
            self._sums = [0.0] * len(FIELDS)
            self._counts = [0] * len(FIELDS)
        for i, value in enumerate(point[1:]):
            if value is not None and not math.isnan(value):
                self._sums[i] += value
                self._counts[i] += 1
        return closed

    def _average(self) -> Point:
        assert self._window is not None
        values = (s / n if n else None for s, n in zip(self._sums, self._counts, strict=True))
        return Point(self._window, *values)


class History:
    """One workspace's series: fine points for the last hour, minute averages for the day."""

    def __init__(
        self,
        interval: float,
        fine_span: float = FINE_SPAN_S,
        coarse_step: float = COARSE_STEP_S,
        coarse_span: float = COARSE_SPAN_S,
    ) -> None:
        self.fine = Ring(max(1, math.ceil(fine_span / interval)))
        self.coarse = Ring(max(1, math.ceil(coarse_span / coarse_step)))
        self.coarse_step = coarse_step
        self._averages = MinuteAverages(coarse_step)

    def append(self, point: Point) -> None:
        self.fine.append(point)
        closed = self._averages.add(point)
        if closed is not None:
            self.coarse.append(closed)

    def points(self, since: float = -math.inf) -> list[Point]:
        """Every point since `since`, oldest first: minute averages older than the fine
        history, then the fine points."""
        fine_start = self.fine.oldest_time
        if fine_start is None:
            return []
        older = [p for p in self.coarse.points(since) if p.time + self.coarse_step <= fine_start]
        return older + self.fine.points(since)

    def tail(self, name: str, last: int) -> list[float | None]:
        return self.fine.column(name, last)
