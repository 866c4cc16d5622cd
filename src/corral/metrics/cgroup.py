"""A workspace's cgroup counters: CPU time, memory, pids, OOM kills, block IO (v1 and v2).

The runtime puts every workspace in the cgroup `/corral/<id>` (see
`corral.drivers.runtime.cgroups`): one directory per controller under v1 (and under the
hybrid layout, whose v1 controllers are the ones that count), one unified directory under v2.
The parsers are pure functions of the files' bytes; `CgroupLayout.read` only finds the files
and reads them with bare `os.read` calls, which keeps a whole workspace under ~0.1 ms.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from corral.drivers.runtime.cgroups import CGROUP_ROOT, CgroupMode, detect_mode

# v1 reports "no limit" as the largest page-aligned 63-bit number; anything this large is
# not a limit anyone set.
UNLIMITED = 1 << 60


@dataclass(frozen=True)
class CgroupStats:
    cpu_usage_ns: int | None
    memory_bytes: int | None  # working set: usage minus inactive page cache, as kubelet counts
    memory_peak_bytes: int | None
    memory_limit_bytes: int | None
    pids: int | None
    pids_limit: int | None
    oom_kills: int | None
    io_read_bytes: int | None
    io_write_bytes: int | None


def read_bytes(path: str) -> bytes | None:
    """A small kernel file's content, or None when it does not exist (any more)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, 65536)
    except OSError:
        return None
    finally:
        os.close(fd)


# -- parsers ------------------------------------------------------------------------------


def parse_int(data: bytes | None) -> int | None:
    """A single-number file; `max` (v2's "no limit") and absurdly large v1 values are None."""
    if data is None:
        return None
    text = data.strip()
    if not text or text == b"max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= UNLIMITED else value


def parse_keyed(data: bytes | None) -> dict[str, int]:
    """`key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control)."""
    result: dict[str, int] = {}
    if not data:
        return result
    for line in data.splitlines():
        key, _, value = line.partition(b" ")
        try:
            result[key.decode()] = int(value)
        except ValueError:
            continue
    return result


def parse_blkio_v1(data: bytes | None) -> tuple[int | None, int | None]:
    """blkio.throttle.io_service_bytes_recursive: `MAJ:MIN Read|Write|... bytes` lines."""
    if data is None:
        return None, None
    read = write = 0
    for line in data.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # the closing `Total N` line
        if parts[1] == b"Read":
            read += int(parts[2])
        elif parts[1] == b"Write":
            write += int(parts[2])
    return read, write


def parse_io_stat_v2(data: bytes | None) -> tuple[int | None, int | None]:
    """io.stat: `MAJ:MIN rbytes=N wbytes=N rios=N ...` lines, one per device."""
    if data is None:
        return None, None
    read = write = 0
    for line in data.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition(b"=")
            if key == b"rbytes":
                read += int(value)
            elif key == b"wbytes":
                write += int(value)
    return read, write


def working_set(usage: int | None, inactive_file: int | None) -> int | None:
    if usage is None:
        return None
    return max(usage - (inactive_file or 0), 0)


# -- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CgroupLayout:
    """Where a host keeps cgroup files; detected once, then only string formatting."""

    mode: CgroupMode
    root: Path = CGROUP_ROOT

    @classmethod
    def detect(cls, root: Path = CGROUP_ROOT) -> CgroupLayout:
        return cls(detect_mode(root), root)

    def read(self, container_id: str) -> CgroupStats | None:
        """The container's counters; None when it has no cgroup (not running, or gone)."""
        if self.mode == "v2":
            return self._read_v2(f"{self.root}/corral/{container_id}")
        return self._read_v1(container_id)

    def _read_v1(self, container_id: str) -> CgroupStats | None:
        def path(controller: str, name: str) -> str:
            return f"{self.root}/{controller}/corral/{container_id}/{name}"

        usage = parse_int(read_bytes(path("memory", "memory.usage_in_bytes")))
        if usage is None:
            return None
        stat = parse_keyed(read_bytes(path("memory", "memory.stat")))
        oom = parse_keyed(read_bytes(path("memory", "memory.oom_control")))
        io_read, io_write = parse_blkio_v1(
            read_bytes(path("blkio", "blkio.throttle.io_service_bytes_recursive"))
        )
        return CgroupStats(
            cpu_usage_ns=parse_int(read_bytes(path("cpuacct", "cpuacct.usage"))),
            memory_bytes=working_set(usage, stat.get("total_inactive_file")),
            memory_peak_bytes=parse_int(read_bytes(path("memory", "memory.max_usage_in_bytes"))),
            memory_limit_bytes=parse_int(read_bytes(path("memory", "memory.limit_in_bytes"))),
            pids=parse_int(read_bytes(path("pids", "pids.current"))),
            pids_limit=parse_int(read_bytes(path("pids", "pids.max"))),
            oom_kills=oom.get("oom_kill"),  # kernels before 4.13 lack it
            io_read_bytes=io_read,
            io_write_bytes=io_write,
        )

    @staticmethod
    def _read_v2(directory: str) -> CgroupStats | None:
        usage = parse_int(read_bytes(f"{directory}/memory.current"))
        if usage is None:
            return None
        cpu = parse_keyed(read_bytes(f"{directory}/cpu.stat"))
        stat = parse_keyed(read_bytes(f"{directory}/memory.stat"))
        events = parse_keyed(read_bytes(f"{directory}/memory.events"))
        io_read, io_write = parse_io_stat_v2(read_bytes(f"{directory}/io.stat"))
        usage_usec = cpu.get("usage_usec")
        return CgroupStats(
            cpu_usage_ns=usage_usec * 1000 if usage_usec is not None else None,
            memory_bytes=working_set(usage, stat.get("inactive_file")),
            memory_peak_bytes=parse_int(read_bytes(f"{directory}/memory.peak")),  # 5.19+
            memory_limit_bytes=parse_int(read_bytes(f"{directory}/memory.max")),
            pids=parse_int(read_bytes(f"{directory}/pids.current")),
            pids_limit=parse_int(read_bytes(f"{directory}/pids.max")),
            oom_kills=events.get("oom_kill"),
            io_read_bytes=io_read,
            io_write_bytes=io_write,
        )
