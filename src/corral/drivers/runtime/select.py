"""Pick the OCI runtime binary for this host."""

from __future__ import annotations

import shutil

from corral.drivers.runtime.cgroups import CgroupMode
from corral.errors import InvalidSpec, RuntimeFailure

INIT_CANDIDATES = ("catatonit", "tini-static", "tini")


def choose_runtime(preference: str, cgroup_mode: CgroupMode) -> str:
    """Path of crun or runc. crun is faster but refuses the hybrid cgroup layout."""
    if preference not in ("auto", "crun", "runc"):
        raise InvalidSpec(f"unknown runtime {preference!r}", hint="use auto, crun or runc")
    if preference == "crun" and cgroup_mode == "hybrid":
        raise RuntimeFailure("crun refuses this host's hybrid cgroup layout", hint="use runc")
    order = [preference] if preference != "auto" else ["crun", "runc"]
    if preference == "auto" and cgroup_mode == "hybrid":
        order = ["runc"]
    for name in order:
        if path := shutil.which(name):
            return path
    raise RuntimeFailure(f"no OCI runtime found (looked for {', '.join(order)})",
                         hint="apt-get install crun runc, or run `make up`")  # fmt: skip


def choose_init() -> str:
    for name in INIT_CANDIDATES:
        if path := shutil.which(name):
            return path
    raise RuntimeFailure("no reaping init found", hint="apt-get install catatonit")
