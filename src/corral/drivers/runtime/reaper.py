"""Reaping the daemon's children, for a daemon that is a child subreaper.

The daemon is a child subreaper (`corral.daemon`), so container inits (after `run
--detach`), the runtime's short-lived intermediate processes, and processes orphaned when a
timed-out `exec` is killed are all re-parented to it. Unreaped, each stays a zombie: it
holds a pid of the host, and one still inside a workspace's cgroup counts against its pids
limit. `REAPER` (one per process: every runtime shares it) reaps every zombie child except
those the daemon spawned and will wait for itself (registered through `spawning`), and keeps
their exit statuses so that the supervisor still learns how a container's init ended.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

_MAX_KEPT_STATUSES = 10_000


def _status_code(result: os.waitid_result) -> int:
    if result.si_code == os.CLD_EXITED:
        return result.si_status
    return 128 + result.si_status


def _children() -> list[int]:
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
                kids += [int(pid) for pid in f.read().split()]
    return kids


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


_RUNTIME_NAMES = ("crun", "runc", "runsc", "runc:", "catatonit", "tini")


def _is_orphan(pid: int) -> bool:
    """Re-parented to us rather than forked by us: a workspace's process (in a corral
    cgroup), or a container runtime's intermediate. Other code in the daemon runs its own
    tools (ip, nft, mkfs...) and waits for them: their zombies are never taken from them."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            if "/corral/" in f.read():
                return True
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip().startswith(_RUNTIME_NAMES)
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Reaper:
    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        # Reentrant: tasks on the event loop's thread may hold it across an await.
        self._lock = threading.RLock()
        self._owned: set[int] = set()
        self._exits: OrderedDict[int, int] = OrderedDict()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def spawning(self) -> Iterator[set[int]]:
        """Hold while starting a process the caller will wait for; add its pid to the set
        yielded, and call `release(pid)` once it has been waited for."""
        with self._lock:
            yield self._owned

    def release(self, pid: int) -> None:
        self._owned.discard(pid)

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="reaper", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        event = threading.Event()
        while not event.wait(self.interval):
            self.reap_orphans()

    def reap_orphans(self) -> int:
        reaped = 0
        with self._lock:
            for pid in _children():
                if pid in self._owned or not _is_zombie(pid) or not _is_orphan(pid):
                    continue
                with contextlib.suppress(ChildProcessError):
                    result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG)
                    if result is not None:
                        self._keep(pid, _status_code(result))
                        reaped += 1
        return reaped

    def _keep(self, pid: int, code: int) -> None:
        self._exits[pid] = code
        while len(self._exits) > _MAX_KEPT_STATUSES:
            self._exits.popitem(last=False)

    def collect(self, pid: int) -> tuple[bool, int | None]:
        """Has `pid` exited, and with what status (None if it could not be observed)?"""
        with self._lock:
            if pid in self._exits:
                return True, self._exits.pop(pid)
            try:
                result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG)
            except ChildProcessError:
                # Not our child (adopted after a daemon restart): only liveness is observable.
                return (False, None) if alive(pid) else (True, None)
            if result is None:
                return False, None
            return True, _status_code(result)


REAPER = Reaper()


def run_owned(argv: list[str], capture_output: bool = False, **kwargs: Any
              ) -> subprocess.CompletedProcess[Any]:  # fmt: skip
    """`subprocess.run`, with the child registered so that the reaper leaves it to us."""
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    data = kwargs.pop("input", None)
    with REAPER.spawning() as owned:
        proc = subprocess.Popen(argv, **kwargs)
        owned.add(proc.pid)
    try:
        out, err = proc.communicate(data)
    finally:
        REAPER.release(proc.pid)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
