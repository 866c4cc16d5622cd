"""The host's cgroup layout: v1, v2, or the hybrid of both that crun refuses.

Hybrid here means cgroup v1 hierarchies plus a cgroup2 mount (usually
/sys/fs/cgroup/unified) that still holds a controller. crun 1.8 refuses that layout
("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"). The fix that
`prepare_host` applies: mount each such controller as its own v1 hierarchy, which detaches it
from cgroup2, as a pure v1 host has it. If that is not possible, corral falls back to runc.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Literal

from corral.drivers import linux

CGROUP_ROOT = Path("/sys/fs/cgroup")
CgroupMode = Literal["v1", "v2", "hybrid"]


def detect_mode(root: Path = CGROUP_ROOT) -> CgroupMode:
    if (root / "cgroup.controllers").exists():
        return "v2"
    unified = root / "unified" / "cgroup.controllers"
    if unified.exists() and unified.read_text().split():
        return "hybrid"
    return "v1"


def hybrid_controllers(root: Path = CGROUP_ROOT) -> list[str]:
    unified = root / "unified" / "cgroup.controllers"
    return unified.read_text().split() if unified.exists() else []


def prepare_host(root: Path = CGROUP_ROOT) -> CgroupMode:
    """Move controllers out of the hybrid cgroup2 mount so that crun accepts the layout."""
    if detect_mode(root) != "hybrid":
        return detect_mode(root)
    for controller in hybrid_controllers(root):
        target = root / controller
        if linux.is_mountpoint(str(target)):
            continue
        try:
            target.mkdir(exist_ok=True)
            linux.mount("cgroup", str(target), "cgroup", linux.MS_NOSUID | linux.MS_NODEV,
                        controller)  # fmt: skip
        except OSError:
            break  # in use by cgroup2 children: leave it, runc still works
    return detect_mode(root)


def cgroups_path(container_id: str) -> str:
    return f"/corral/{container_id}"


def controller_dir(controller: str, container_id: str, root: Path = CGROUP_ROOT) -> Path:
    """Directory of one v1 controller (or the v2 unified dir) for a container."""
    if detect_mode(root) == "v2":
        return root / "corral" / container_id
    return root / controller / "corral" / container_id


def leftover_cgroups(root: Path = CGROUP_ROOT) -> list[Path]:
    """Every corral cgroup directory still present (for reconcile and leak checks)."""
    found: list[Path] = []
    bases = [root / "corral"] if detect_mode(root) == "v2" else [
        root / c / "corral" for c in os.listdir(root) if (root / c / "corral").is_dir()
    ]
    for base in bases:
        if base.is_dir():
            found.extend(p for p in base.iterdir() if p.is_dir())
    return found


def cpu_usage_ns(container_id: str, root: Path = CGROUP_ROOT) -> int | None:
    """Total CPU time the container used, in nanoseconds (None if it has no cgroup)."""
    try:
        if detect_mode(root) == "v2":
            for line in (root / "corral" / container_id / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * 1000
            return None
        return int((root / "cpuacct" / "corral" / container_id / "cpuacct.usage").read_text())
    except (OSError, ValueError):
        return None


_FREEZE_TIMEOUT = 2.0


def set_frozen(container_id: str, frozen: bool, root: Path = CGROUP_ROOT) -> None:
    """Freeze or thaw every process of a container through its cgroup: what `crun pause` and
    `crun resume` do, without starting a process (~0.1 ms instead of several). Returns once
    the kernel reports the new state; OSError if the cgroup is not there or does not get
    there in time (the caller then asks the runtime)."""
    deadline = time.monotonic() + _FREEZE_TIMEOUT
    if detect_mode(root) == "v2":
        directory = root / "corral" / container_id
        (directory / "cgroup.freeze").write_text("1" if frozen else "0")
        done = f"frozen {int(frozen)}"
        while done not in (directory / "cgroup.events").read_text().splitlines():
            if time.monotonic() > deadline:
                raise OSError(f"cgroup of {container_id} did not reach '{done}'")
            time.sleep(0.0005)
        return
    state = controller_dir("freezer", container_id, root) / "freezer.state"
    want = "FROZEN" if frozen else "THAWED"
    state.write_text(want)
    # v1 goes through FREEZING while tasks are caught; writing FROZEN again moves it on.
    while state.read_text().strip() != want:
        if time.monotonic() > deadline:
            raise OSError(f"freezer of {container_id} did not reach {want}")
        time.sleep(0.0005)
        state.write_text(want)


def apply_limits(container_id: str, cpu: float | None, memory_mib: int | None,
                 pids: int | None, root: Path = CGROUP_ROOT) -> None:  # fmt: skip
    """Write limits into a running container's cgroups (what `crun update` does, in 0.1 ms).

    Used when a warm sandbox is claimed: it was started without limits. Memory keeps the
    OCI rule corral uses at start: memory + swap == limit (no swap beyond the limit)."""
    v2 = detect_mode(root) == "v2"

    def write(controller: str, name: str, value: str) -> None:
        (controller_dir(controller, container_id, root) / name).write_text(value)

    if memory_mib is not None:
        limit = str(memory_mib * 1024 * 1024)
        if v2:
            write("memory", "memory.max", limit)
            write("memory", "memory.swap.max", "0")
        else:
            write("memory", "memory.limit_in_bytes", limit)
            with contextlib.suppress(OSError):  # no swap accounting on this host
                write("memory", "memory.memsw.limit_in_bytes", limit)
    if cpu is not None:
        quota = int(cpu * 100_000)
        if v2:
            write("cpu", "cpu.max", f"{quota} 100000")
        else:
            write("cpu", "cpu.cfs_period_us", "100000")
            write("cpu", "cpu.cfs_quota_us", str(quota))
    if pids is not None:
        write("pids", "pids.max", str(pids))
