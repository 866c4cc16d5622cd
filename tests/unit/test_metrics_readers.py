"""Reading a workspace's counters: cgroup v1/v2 files, /proc/<pid>/net/dev, disk usage."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from corral.metrics.cgroup import (
    CgroupLayout,
    parse_blkio_v1,
    parse_int,
    parse_io_stat_v2,
    parse_keyed,
    read_bytes,
    working_set,
)
from corral.metrics.disk import mounted_usage, tree_usage
from corral.metrics.netdev import parse_net_dev

# The real file pads columns with spaces; only their order matters to the parser.
NET_DEV = b"""Inter-|   Receive                            |  Transmit
 face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop ...
    lo: 1000 10 0 0 0 0 0 0 1000 10 0 0 0 0 0 0
  eth0: 5000000 4000 0 0 0 0 0 0 123456 900 0 0 0 0 0 0
 veth1: 100 1 0 0 0 0 0 0 50 1 0 0 0 0 0 0
"""


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"12345\n", 12345),
        (b"max\n", None),  # v2: no limit
        (b"9223372036854771712\n", None),  # v1: no limit
        (b"", None),
        (None, None),
        (b"garbage", None),
    ],
)
def test_parse_int(data: bytes | None, expected: int | None) -> None:
    assert parse_int(data) == expected


def test_parse_keyed_skips_what_is_not_a_number() -> None:
    data = b"oom_kill_disable 0\nunder_oom 0\noom_kill 3\nodd line\n"
    assert parse_keyed(data) == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 3}
    assert parse_keyed(None) == {}


def test_parse_blkio_v1_sums_devices_and_ignores_total() -> None:
    data = b"8:0 Read 100\n8:0 Write 40\n8:0 Sync 140\n8:16 Read 1\n8:16 Write 2\nTotal 143\n"
    assert parse_blkio_v1(data) == (101, 42)
    assert parse_blkio_v1(b"Total 0\n") == (0, 0)
    assert parse_blkio_v1(None) == (None, None)


def test_parse_io_stat_v2() -> None:
    data = b"8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2\n"
    assert parse_io_stat_v2(data) == (4097, 8194)
    assert parse_io_stat_v2(b"") == (0, 0)


def test_working_set_excludes_inactive_cache() -> None:
    assert working_set(1000, 300) == 700
    assert working_set(1000, None) == 1000
    assert working_set(100, 300) == 0
    assert working_set(None, 1) is None


def test_net_dev_sums_every_interface_but_loopback() -> None:
    assert parse_net_dev(NET_DEV) == (5000100, 123506)
    assert parse_net_dev(NET_DEV.splitlines(keepends=True)[0] * 2) == (0, 0)


def _write(base: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def test_cgroup_v1_layout(tmp_path: Path) -> None:
    _write(tmp_path, {
        "cpuacct/corral/w1/cpuacct.usage": "2500000000\n",
        "memory/corral/w1/memory.usage_in_bytes": "10485760\n",
        "memory/corral/w1/memory.max_usage_in_bytes": "20971520\n",
        "memory/corral/w1/memory.limit_in_bytes": "268435456\n",
        "memory/corral/w1/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
        "memory/corral/w1/memory.stat": "cache 0\ninactive_file 1\ntotal_inactive_file 1048576\n",
        "pids/corral/w1/pids.current": "7\n",
        "pids/corral/w1/pids.max": "max\n",
        "blkio/corral/w1/blkio.throttle.io_service_bytes_recursive": "8:0 Read 5\n8:0 Write 6\n",
    })  # fmt: skip
    stats = CgroupLayout("v1", tmp_path).read("w1")
    assert stats is not None
    assert stats.cpu_usage_ns == 2_500_000_000
    assert stats.memory_bytes == 10485760 - 1048576
    assert stats.memory_peak_bytes == 20971520 and stats.memory_limit_bytes == 268435456
    assert (stats.pids, stats.pids_limit, stats.oom_kills) == (7, None, 2)
    assert (stats.io_read_bytes, stats.io_write_bytes) == (5, 6)
    assert CgroupLayout("v1", tmp_path).read("gone") is None


def test_cgroup_v2_layout(tmp_path: Path) -> None:
    _write(tmp_path, {
        "corral/w2/cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
        "corral/w2/memory.current": "4096000\n",
        "corral/w2/memory.max": "max\n",
        "corral/w2/memory.events": "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n",
        "corral/w2/memory.stat": "anon 100\nfile 200\ninactive_file 96000\n",
        "corral/w2/pids.current": "3\n",
        "corral/w2/pids.max": "64\n",
        "corral/w2/io.stat": "8:0 rbytes=10 wbytes=20 rios=1 wios=1\n",
    })  # fmt: skip
    stats = CgroupLayout("v2", tmp_path).read("w2")
    assert stats is not None
    assert stats.cpu_usage_ns == 1_500_000_000
    assert stats.memory_bytes == 4_000_000
    assert stats.memory_peak_bytes is None  # memory.peak: kernels before 5.19 lack it
    assert stats.memory_limit_bytes is None
    assert (stats.pids, stats.pids_limit, stats.oom_kills) == (3, 64, 1)
    assert (stats.io_read_bytes, stats.io_write_bytes) == (10, 20)


def test_read_bytes_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_bytes(str(tmp_path / "nope")) is None


def test_tree_usage_counts_blocks_once_per_inode(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "big").write_bytes(os.urandom(64 * 1024))
    os.link(tmp_path / "a" / "big", tmp_path / "hardlink")
    (tmp_path / "loop").symlink_to(tmp_path)
    total = tree_usage(str(tmp_path))
    assert total is not None
    assert 64 * 1024 <= total < 2 * 64 * 1024
    assert tree_usage(str(tmp_path / "missing")) is None


def test_mounted_usage_is_none_without_a_separate_filesystem(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    assert mounted_usage(str(tmp_path), "/data") is None
    assert mounted_usage(str(tmp_path), "/absent") is None


def test_mounted_usage_of_a_real_mount() -> None:
    # /proc is its own filesystem under /: the same check as a disk mounted at /data.
    assert mounted_usage("/", "/proc") is not None
