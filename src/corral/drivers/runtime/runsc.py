"""gVisor (`runsc`): each workspace gets its own user-space kernel, behind the OCI interface.

The workspace's processes talk to gVisor's kernel (the sentry), not to the host's; the
sentry runs on the ptrace platform (no KVM needed) and serves files through a separate
process (the gofer). It takes the same bundle as crun/runc, so `OciRuntime` does most of the
work; what differs is here:

- network: `--network=sandbox`, gVisor's own network stack inside the workspace's network
  namespace (it takes over the interfaces it finds there). runsc refuses to start in the
  host's namespace, which it recognises by /proc/sys/net/core/rmem_default existing; since
  Linux made that sysctl per-namespace, it exists in every namespace and Debian's runsc
  refuses them all. `run` is therefore started in a mount namespace of its own where
  /proc/sys/net is hidden (an empty tmpfs); nothing else runsc does reads it.
- processes live inside the sandbox: an exec's pid is gVisor's own, so a timed-out command
  and its descendants are killed with `runsc kill --pid`, not by host pid.
- files: the sandbox process's root is empty; the gofer's is the workspace's, mounts
  included, so `root_path` is the gofer's root. `--file-access=shared` makes changes made
  from the host (the file API) visible inside at once. gVisor would put a tmpfs of its own
  on /tmp; /tmp is bound from the root filesystem instead, the same on both sides as with crun.
- limits: cgroup limits bound the sandbox as a whole (sentry, gofer and ptrace stubs: about
  80 host tasks when idle, one stub per process inside), so the pids limit gets
  `PIDS_OVERHEAD` more. The host sees one process: memory or pids exhausted inside kill the
  sandbox (the supervisor then applies the restart policy), not one process in it.
- delete: runsc waits up to 5 s for the sandbox and gofer processes to be gone, and to a
  child subreaper (the daemon) they are zombies until reaped; they are killed and reaped
  here first, which makes delete take milliseconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from corral.drivers.runtime.base import ContainerSpec, Mount
from corral.drivers.runtime.oci import OciRuntime, _last_line, _read_pid
from corral.drivers.runtime.reaper import REAPER
from corral.errors import RuntimeFailure

PIDS_OVERHEAD = 256
FLAGS = ("--platform=ptrace", "--network=sandbox", "--file-access=shared", "--overlay2=none")
# `sh -c SCRIPT NAME ARGS...`: hide /proc/sys/net, then become runsc (see the module doc).
_HIDE_NET_SYSCTLS = 'mount -t tmpfs -o ro,size=4k,mode=0555 corral-runsc /proc/sys/net && exec "$@"'
_GONE_TIMEOUT_S = 5.0


def find_runsc() -> str | None:
    return shutil.which("runsc")


class RunscRuntime(OciRuntime):
    def __init__(self, binary: str, state_root: Path, bundles_dir: Path, init_binary: str):
        super().__init__(binary, state_root, bundles_dir, init_binary)
        unshare = shutil.which("unshare")
        if unshare is None:
            raise RuntimeFailure("runsc needs `unshare`", hint="apt-get install util-linux")
        self._launch = [unshare, "--mount", "--propagation", "slave", "--",
                        "/bin/sh", "-c", _HIDE_NET_SYSCTLS, "runsc"]  # fmt: skip

    def _cmd(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.state_root), *FLAGS, *args]

    # -- lifecycle ----------------------------------------------------------------------

    def _config(self, spec: ContainerSpec) -> dict[str, Any]:
        tmp = spec.rootfs / "tmp"
        if tmp.is_dir() and not any(m.target == "/tmp" for m in spec.mounts):
            spec = dataclasses.replace(
                spec, mounts=(*spec.mounts, Mount(str(tmp), "/tmp", readonly=False))
            )
        config = super()._config(spec)
        if spec.pids is not None:
            config["linux"]["resources"]["pids"] = {"limit": spec.pids + PIDS_OVERHEAD}
        return config

    def _freeze(self, container_id: str, frozen: bool) -> None:
        # gVisor pauses its own kernel (the sentry), not just the processes of a cgroup.
        self._call("pause" if frozen else "resume", container_id)

    def _launcher(self) -> list[str]:
        return self._launch

    def delete(self, container_id: str) -> None:
        processes = self._host_processes(container_id)
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in processes:
            _wait_gone(pid)
        if self.holds(container_id):
            proc = self._call("delete", "--force", container_id, check=False)
            if proc.returncode != 0 and self.holds(container_id):
                raise RuntimeFailure(f"runsc delete failed: {_last_line(proc.stderr)}")
        shutil.rmtree(self.bundles_dir / container_id, ignore_errors=True)

    def holds(self, container_id: str) -> bool:
        return self._state_file(container_id).exists()

    def root_path(self, container_id: str, pid: int) -> str:
        gofer = self._saved_state(container_id).get("goferPid")
        if not isinstance(gofer, int) or not _is_runsc(gofer, container_id):
            raise RuntimeFailure(f"the file server of workspace {container_id} is gone",
                                 hint="restart the workspace")  # fmt: skip
        return f"/proc/{gofer}/root"

    # -- exec -----------------------------------------------------------------------------

    def _exec_pid_args(self, pid_file: Path) -> list[str]:
        return ["--internal-pid-file", str(pid_file)]

    def _kill_exec(self, container_id: str, pid_file: Path) -> None:
        pid = _read_pid(pid_file)
        if pid is None:
            return
        table = self._call("ps", container_id, check=False).stdout
        with REAPER.spawning() as owned:  # waited for here, not by the reaper
            kills = [
                subprocess.Popen(self._cmd("kill", "--pid", str(member), container_id, "KILL"),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
                for member in descendants(parse_ps(table), pid)
            ]
            owned.update(kill.pid for kill in kills)
        for kill in kills:
            kill.wait()
            REAPER.release(kill.pid)

    # -- runsc's own records ---------------------------------------------------------------

    def _state_file(self, container_id: str) -> Path:
        return self.state_root / f"{container_id}_sandbox:{container_id}.state"

    def _saved_state(self, container_id: str) -> dict:  # type: ignore[type-arg]
        try:
            return json.loads(self._state_file(container_id).read_text())  # type: ignore[no-any-return]
        except (OSError, ValueError):
            return {}

    def _host_processes(self, container_id: str) -> list[int]:
        """The sandbox (sentry) and gofer processes of a container, while they live."""
        saved = self._saved_state(container_id)
        candidates = [(saved.get("sandbox") or {}).get("pid"), saved.get("goferPid")]
        return [pid for pid in candidates
                if isinstance(pid, int) and pid > 0 and _is_runsc(pid, container_id)]  # fmt: skip


def parse_ps(table: str) -> dict[int, int]:
    """pid -> parent pid, from `runsc ps` (a header, then UID PID PPID ... per process)."""
    parents = {}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit():
            parents[int(fields[1])] = int(fields[2])
    return parents


def descendants(parents: dict[int, int], root: int) -> list[int]:
    """`root` and every process below it (children before they are re-parented)."""
    tree, pending = [], [root]
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(pid for pid, parent in parents.items() if parent == current)
    return tree


def _is_runsc(pid: int, container_id: str) -> bool:
    """Whether `pid` is still one of runsc's processes for this container (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if cmdline:
        return cmdline.startswith(b"runsc") and container_id.encode() in cmdline
    # A zombie has no command line left; runsc's processes are named "exe" (it re-executes
    # itself), and a zombie's pid cannot have been reused.
    comm, _, rest = stat.rpartition(")")
    return rest.split()[0] == "Z" and comm.endswith("(exe")


def _wait_gone(pid: int) -> None:
    """Wait until `pid` has exited, and reap it if it is our child (a zombie otherwise)."""
    deadline = time.monotonic() + _GONE_TIMEOUT_S
    while not REAPER.collect(pid)[0] and time.monotonic() < deadline:
        time.sleep(0.005)
