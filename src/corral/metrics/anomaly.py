"""Anomalies: CPU far above a workspace's own trailing baseline, or memory near its limit.

Judged per workspace, one sample at a time, so a detector is a small pure state machine:
- CPU: the baseline is an exponential average of the workspace's CPU over about an hour
  (a plain mean while it has fewer samples than that), learnt from normal samples only, so a
  burst does not raise the bar it is judged by. A workspace using `cpu_factor` times its
  baseline or more, for `sustain_samples` samples in a row, is flagged. An idle workspace's
  baseline counts as `cpu_floor_percent`, so tiny absolute changes (0.01% -> 0.2%) are not
  anomalies. A level held for a whole baseline horizon becomes the new baseline (and so
  clears): after an hour, the new normal is normal.
- memory: the working set at `memory_ratio` of the limit or more, `sustain_samples` in a row.
- disk: the writable layer (everything written outside a persistent disk) at `rootfs_bytes`
  or more. That layer has no size cap on this kernel (no ext4/XFS project quotas), so a
  workspace filling the host's disk is at least seen, and reported, as it happens.
An anomaly clears after `sustain_samples` samples in a row without its condition.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

AnomalyKind = Literal["cpu", "memory", "disk"]
MIB = 1024 * 1024
GIB = 1024 * MIB


@dataclass(frozen=True)
class Rules:
    cpu_factor: float = 10.0
    cpu_floor_percent: float = 1.0  # of one core
    baseline_samples: int = 720  # the baseline's horizon: 1 h at 5 s
    warmup_samples: int = 12  # no CPU verdict before a baseline of this many samples
    sustain_samples: int = 6  # 30 s at 5 s
    memory_ratio: float = 0.9
    rootfs_bytes: float | None = 10 * GIB  # None: no disk anomalies


@dataclass(frozen=True)
class Anomaly:
    kind: AnomalyKind
    since: float  # Unix time the condition started
    value: float  # latest CPU % of a core, memory bytes or writable-layer bytes
    threshold: float  # same unit as value
    message: str


@dataclass(frozen=True)
class Change:
    anomaly: Anomaly
    raised: bool  # False: it cleared


@dataclass
class _Streak:
    count: int = 0
    started: float = 0.0


@dataclass
class Detector:
    """One workspace's anomaly state; feed it every sample with `observe`."""

    rules: Rules = field(default_factory=Rules)
    baseline: float | None = None
    samples: int = 0
    over_samples: int = 0  # in a row, not learnt
    active: dict[AnomalyKind, Anomaly] = field(default_factory=dict)
    _streaks: dict[AnomalyKind, _Streak] = field(default_factory=dict)

    def observe(
        self,
        time: float,
        cpu_percent: float | None,
        memory_bytes: float | None,
        memory_limit: float | None,
        rootfs_bytes: float | None = None,
    ) -> list[Change]:
        changes: list[Change] = []
        if cpu_percent is not None:
            threshold = self.cpu_threshold()
            over = threshold is not None and cpu_percent >= threshold
            usual = self.baseline or 0.0
            message = f"CPU at {cpu_percent:.0f}% of a core; its usual is {usual:.1f}%"
            changes += self._judge("cpu", over, time, cpu_percent, threshold or 0.0, message)
            self._learn(cpu_percent, over)
        if memory_bytes is not None and memory_limit:
            threshold = self.rules.memory_ratio * memory_limit
            message = (f"memory at {memory_bytes / memory_limit:.0%} of its "
                       f"{memory_limit / MIB:.0f} MiB limit")  # fmt: skip
            changes += self._judge("memory", memory_bytes >= threshold, time, memory_bytes,
                                   threshold, message)  # fmt: skip
        if rootfs_bytes is not None and self.rules.rootfs_bytes:
            threshold = self.rules.rootfs_bytes
            message = (f"{rootfs_bytes / MIB:.0f} MiB written to its writable layer "
                       f"(flagged from {threshold / MIB:.0f} MiB)")  # fmt: skip
            changes += self._judge("disk", rootfs_bytes >= threshold, time, rootfs_bytes,
                                   threshold, message)  # fmt: skip
        return changes

    def cpu_threshold(self) -> float | None:
        """CPU % at or above which this workspace is anomalous; None while warming up."""
        if self.baseline is None or self.samples < self.rules.warmup_samples:
            return None
        return self.rules.cpu_factor * max(self.baseline, self.rules.cpu_floor_percent)

    def _learn(self, cpu_percent: float, over: bool) -> None:
        if over:
            self.over_samples += 1
            if self.over_samples >= self.rules.baseline_samples:
                self.baseline, self.over_samples = cpu_percent, 0
            return
        self.over_samples = 0
        self.samples += 1
        alpha = max(1.0 / self.samples, 2.0 / (self.rules.baseline_samples + 1))
        base = cpu_percent if self.baseline is None else self.baseline
        self.baseline = base + alpha * (cpu_percent - base)

    def _judge(
        self, kind: AnomalyKind, over: bool, time: float, value: float, threshold: float,
        message: str,
    ) -> list[Change]:  # fmt: skip
        current = self.active.get(kind)
        streak = self._streaks.setdefault(kind, _Streak())
        if over == (current is not None):  # no change of verdict
            streak.count = 0
            if current is not None:
                self.active[kind] = dataclasses.replace(current, value=value, message=message)
            return []
        if streak.count == 0:
            streak.started = time
        streak.count += 1
        if streak.count < self.rules.sustain_samples:
            return []
        streak.count = 0
        if over:
            anomaly = Anomaly(kind, streak.started, value, threshold, message)
            self.active[kind] = anomaly
            return [Change(anomaly, raised=True)]
        assert current is not None
        del self.active[kind]
        return [Change(dataclasses.replace(current, value=value), raised=False)]
