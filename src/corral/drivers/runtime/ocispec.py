"""Build an OCI runtime config.json for a workspace container (a pure function)."""

from __future__ import annotations

from typing import Any

from corral.drivers.runtime.base import ContainerSpec, Mount
from corral.drivers.runtime.seccomp import default_profile

INIT_PATH = "/.corral/init"  # the reaping init (catatonit), bind-mounted read-only

CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
]  # fmt: skip

MASKED_PATHS = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap", "/proc/sysrq-trigger",
]  # fmt: skip

READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CPU_PERIOD_US = 100_000


def build_config(spec: ContainerSpec, cgroups_path: str, init_binary: str) -> dict[str, Any]:
    if spec.command:
        args = [INIT_PATH, "--", *spec.command]
    else:
        args = [INIT_PATH, "-P"]  # pause mode: an idle workspace whose init only reaps
    env = {"PATH": DEFAULT_PATH, "HOME": "/root", "TERM": "xterm", "HOSTNAME": spec.hostname}
    env.update(spec.env)
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [f"{k}={v}" for k, v in env.items()],
            "cwd": spec.cwd,
            "capabilities": {k: CAPABILITIES for k in ("bounding", "effective", "permitted")},
            "noNewPrivileges": True,
            "oomScoreAdj": 500,
        },
        "root": {"path": str(spec.rootfs), "readonly": False},
        "hostname": spec.hostname,
        "mounts": _mounts(spec, init_binary),
        "linux": {
            "namespaces": [
                {"type": "pid"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"},
                {"type": "cgroup"},
                {"type": "network", "path": spec.netns},
            ],
            "cgroupsPath": cgroups_path,
            "resources": _resources(spec),
            "seccomp": default_profile(),
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "sysctl": {},
        },
    }


def _resources(spec: ContainerSpec) -> dict[str, Any]:
    resources: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    if spec.memory_mib is not None:
        limit = spec.memory_mib * 1024 * 1024
        # swap == limit: a workspace cannot spill past its memory limit into swap.
        resources["memory"] = {"limit": limit, "swap": limit}
    if spec.cpu is not None:
        resources["cpu"] = {"quota": int(spec.cpu * CPU_PERIOD_US), "period": CPU_PERIOD_US}
    if spec.pids is not None:
        resources["pids"] = {"limit": spec.pids}
    return resources


def _mounts(spec: ContainerSpec, init_binary: str) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        {"destination": INIT_PATH, "type": "bind", "source": init_binary,
         "options": ["rbind", "ro", "nosuid", "nodev"]},
    ]  # fmt: skip
    mounts.extend(_mount(m) for m in spec.mounts)
    return mounts


def _mount(m: Mount) -> dict[str, Any]:
    if m.kind == "tmpfs":
        return {"destination": m.target, "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev", *m.options]}  # fmt: skip
    options = ["rbind", "ro" if m.readonly else "rw", "nosuid", "nodev", *m.options]
    return {"destination": m.target, "type": "bind", "source": m.source, "options": options}
