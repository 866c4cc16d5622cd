"""Anomalies: CPU at 10x its own trailing baseline, sustained; memory near its limit."""

from __future__ import annotations

from corral.metrics.anomaly import Detector, Rules

MIB = 1024 * 1024
RULES = Rules(warmup_samples=4, sustain_samples=3, baseline_samples=20)


def feed(detector: Detector, cpus: list[float], start: int = 0, memory: float = MIB,
         limit: float | None = 100 * MIB) -> list[tuple[int, str, bool]]:  # fmt: skip
    changes = []
    for i, cpu in enumerate(cpus, start):
        for change in detector.observe(float(i), cpu, memory, limit):
            changes.append((i, change.anomaly.kind, change.raised))
    return changes


def test_no_verdict_while_warming_up() -> None:
    detector = Detector(RULES)
    assert feed(detector, [0, 0, 100]) == []
    assert detector.cpu_threshold() is None


def test_sustained_cpu_far_above_baseline_raises_then_clears() -> None:
    detector = Detector(RULES)
    assert feed(detector, [2.0] * 6) == []
    assert detector.cpu_threshold() == 20.0
    changes = feed(detector, [50, 60, 70], start=6)
    assert changes == [(8, "cpu", True)]
    anomaly = detector.active["cpu"]
    assert anomaly.since == 6 and anomaly.threshold == 20.0 and "70%" in anomaly.message
    # The burst did not raise the bar: the baseline learns from normal samples only.
    assert detector.baseline == 2.0
    assert feed(detector, [80], start=9) == [] and detector.active["cpu"].value == 80
    assert feed(detector, [2, 2, 2], start=10) == [(12, "cpu", False)]
    assert not detector.active


def test_short_bursts_are_not_anomalies() -> None:
    detector = Detector(RULES)
    feed(detector, [1.0] * 6)
    assert feed(detector, [90, 90, 1, 90, 90, 1, 90], start=6) == []


def test_idle_workspace_needs_a_real_jump() -> None:
    # 0.01% -> 5% is 500x, but under the floor: an idle baseline counts as 1% of a core.
    detector = Detector(RULES)
    feed(detector, [0.01] * 6)
    assert detector.cpu_threshold() == 10.0
    assert feed(detector, [5.0] * 3, start=6) == []
    assert feed(detector, [30.0] * 3, start=9) == [(11, "cpu", True)]


def test_a_level_held_for_the_whole_horizon_becomes_the_new_normal() -> None:
    detector = Detector(RULES)
    feed(detector, [1.0] * 6)
    changes = feed(detector, [100.0] * 30, start=6)
    assert changes[0] == (8, "cpu", True)
    assert changes[-1][1:] == ("cpu", False)  # rebased on the new level, then cleared
    assert detector.baseline == 100.0


def test_memory_near_the_limit() -> None:
    detector = Detector(RULES)
    raised = [detector.observe(i, None, 95 * MIB, 100 * MIB) for i in range(3)]
    assert raised[:2] == [[], []] and raised[2][0].raised
    assert "95% of its 100 MiB limit" in detector.active["memory"].message
    cleared = [detector.observe(i, None, 50 * MIB, 100 * MIB) for i in range(3, 6)]
    assert cleared[2] and not cleared[2][0].raised
    assert "memory" not in detector.active


def test_no_memory_verdict_without_a_limit() -> None:
    detector = Detector(RULES)
    assert feed(detector, [None] * 5, memory=10**12, limit=None) == []  # type: ignore[list-item]


def test_a_growing_writable_layer_is_flagged_and_cleared_when_freed() -> None:
    detector = Detector(Rules(sustain_samples=2, rootfs_bytes=100 * MIB))
    seen = []
    for i, used in enumerate([10, 99, 150, 400, 400, 20, 20]):
        for change in detector.observe(float(i), None, None, None, used * MIB):
            seen.append((i, change.anomaly.kind, change.raised))
    assert seen == [(3, "disk", True), (6, "disk", False)]
    assert not detector.active


def test_disk_anomalies_can_be_turned_off() -> None:
    detector = Detector(Rules(sustain_samples=1, rootfs_bytes=None))
    assert detector.observe(0.0, None, None, None, 10**12) == []
