"""`corral stats` and the metrics API's argument parsing, without a server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rich.console import Console

from corral.api.routes.metrics import parse_since
from corral.api.schemas import FleetWorkspace
from corral.cli.stats import human_bytes, select, stats_table
from corral.errors import InvalidSpec

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, NOW - 3600),
        ("90s", NOW - 90),
        ("15m", NOW - 900),
        ("1.5h", NOW - 5400),
        ("1d", NOW - 86400),
        ("2025-01-01T11:00:00Z", NOW - 3600),
        ("2025-01-01T11:00:00+00:00", NOW - 3600),
        ("2025-01-01T11:00:00", NOW - 3600),  # naive: UTC, as every time in corral
    ],
)
def test_parse_since(text: str | None, expected: float) -> None:
    assert parse_since(text, NOW) == pytest.approx(expected)


def test_parse_since_says_what_it_accepts() -> None:
    with pytest.raises(InvalidSpec) as err:
        parse_since("yesterday", NOW)
    assert err.value.hint and "since=15m" in err.value.hint


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, "-"), (0, "0B"), (512, "512B"), (1536, "1.5KiB"), (256 * 1024**2, "256MiB"),
     (3 * 1024**3, "3GiB"), (5 * 1024**5, "5120TiB")],
)  # fmt: skip
def test_human_bytes(value: float | None, text: str) -> None:
    assert human_bytes(value) == text


def fleet_row(id: str, name: str, state: str = "running", **current: object) -> FleetWorkspace:
    now = None
    if state in ("running", "paused"):
        now = {"time": "2025-01-01T12:00:00Z", "cpu_percent": 12.345, "cpu_usage_seconds": 1.0,
               "cpu_limit": None, "memory_bytes": 64 * 1024**2, "memory_peak_bytes": None,
               "memory_limit_bytes": 256 * 1024**2, "memory_percent": 25.0, "pids": 4,
               "pids_limit": None, "rootfs_used_bytes": None, "disk_used_bytes": None,
               "disk_size_bytes": None, "net_rx_bytes": 1536, "net_tx_bytes": 0,
               "net_rx_bytes_per_s": None, "net_tx_bytes_per_s": None, "io_read_bytes": 0,
               "io_write_bytes": 4096, "io_read_bytes_per_s": None, "io_write_bytes_per_s": None,
               "oom_kills": 0, "restarts": 0, **current}  # fmt: skip
    anomalies = [{"kind": "cpu", "message": "m", "since": "2025-01-01T12:00:00Z", "value": 1,
                  "threshold": 1}] if name == "hot" else []  # fmt: skip
    return FleetWorkspace.model_validate({"id": id, "name": name, "image": "host", "state": state,
                                          "current": now, "anomalies": anomalies,
                                          "cpu_history": [], "memory_history": []})  # fmt: skip


def test_stats_table_reads_like_docker_stats() -> None:
    rows = [fleet_row("aaaa11112222333", "agent"), fleet_row("bbbb", "hot"),
            fleet_row("cccc", "idle", state="stopped")]  # fmt: skip
    console = Console(width=200, record=True)
    console.print(stats_table(rows))
    text = console.export_text()
    assert text.splitlines()[0].split()[:4] == ["ID", "NAME", "STATE", "CPU"]
    assert "aaaa11112222" in text and "aaaa111122223" not in text  # ids cut to 12
    assert "12.35%" in text and "64MiB / 256MiB" in text and "25.00%" in text
    assert "1.5KiB / 0B" in text and "0B / 4KiB" in text
    hot = next(line for line in text.splitlines() if "hot" in line)
    assert hot.rstrip().endswith("cpu")


def test_select_by_name_id_or_prefix_else_every_live_one() -> None:
    rows = [fleet_row("abc123", "one"), fleet_row("def456", "two", state="paused"),
            fleet_row("0f0f0f", "three", state="stopped")]  # fmt: skip
    assert [r.name for r in select(rows, [])] == ["one", "two"]
    assert [r.name for r in select(rows, ["three", "def", "abc123"])] == ["three", "two", "one"]
    with pytest.raises(Exception, match="no workspace 'nope'"):
        select(rows, ["nope"])
