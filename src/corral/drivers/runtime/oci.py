"""An OCI runtime (crun or runc) called directly with a generated bundle.

Container state lives under `state_root` on tmpfs, bundles under `bundles_dir`. The daemon
is a child subreaper (see `corral.daemon`), so a container's init is re-parented to it and
its exit status can be read; after a daemon restart the init of an adopted container belongs
to the host's init and only "it exited" is known.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

from corral.drivers.runtime import cgroups
from corral.drivers.runtime.base import (
    ContainerSpec,
    ContainerState,
    ExecExit,
    ExecSpec,
    Exited,
    OutputChunk,
)
from corral.drivers.runtime.ocispec import build_config
from corral.drivers.runtime.reaper import REAPER, run_owned
from corral.errors import RuntimeFailure

log = logging.getLogger("corral.runtime")

_READ_CHUNK = 65536
# An exec'd process is as likely an OOM victim as the workspace's init (500), so that under
# memory pressure the kernel kills the biggest process, not the init. `choom` sets it and
# execs the runtime (a preexec_fn would cost ~8 ms: it disables subprocess's vfork path).
_AS_OOM_CANDIDATE = ("choom", "-n", "500", "--") if shutil.which("choom") else ()
# After the exec'd process exits, how long its output pipes may stay open (held by a
# background child it left behind) before corral stops waiting for them.
_PIPE_GRACE_S = 0.2
_REAP_AFTER_KILL_S = 0.02


class OciRuntime:
    def __init__(self, binary: str, state_root: Path, bundles_dir: Path, init_binary: str):
        self.binary = binary
        self.name = Path(binary).name
        self.state_root = state_root
        self.bundles_dir = bundles_dir
        self.init_binary = init_binary
        state_root.mkdir(parents=True, exist_ok=True)
        bundles_dir.mkdir(parents=True, exist_ok=True)

    def _cmd(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.state_root), *args]

    def _call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = run_owned(self._cmd(*args), stdin=subprocess.DEVNULL, capture_output=True,
                         text=True)  # fmt: skip
        if check and proc.returncode != 0:
            raise RuntimeFailure(f"{self.name} {args[0]} failed: {_last_line(proc.stderr)}")
        return proc

    # -- lifecycle ----------------------------------------------------------------------

    def run(self, spec: ContainerSpec) -> ContainerState:
        bundle = self.bundles_dir / spec.id
        bundle.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_private(bundle / "config.json", self._config(spec))  # holds the env, secrets too
        error_log = bundle / "runtime.log"
        pid_file = bundle / "pid"
        with open(spec.log_path, "ab") as log:
            proc = run_owned(
                [*self._launcher(), *self._cmd(f"--log={error_log}", "run", "--detach",
                                               "--bundle", str(bundle), "--pid-file",
                                               str(pid_file), spec.id)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        if proc.returncode != 0:
            message = _last_line(error_log.read_text() if error_log.exists() else "")
            raise RuntimeFailure(f"{self.name} could not start the workspace: {message}")
        return ContainerState(spec.id, "running", int(pid_file.read_text()))

    def _config(self, spec: ContainerSpec) -> dict[str, Any]:
        """The bundle's config.json."""
        return build_config(spec, cgroups.cgroups_path(spec.id), self.init_binary)

    def _launcher(self) -> list[str]:
        """What `run` is started under, before the runtime's own command line (nothing)."""
        return []

    def state(self, container_id: str) -> ContainerState | None:
        proc = self._call("state", container_id, check=False)
        if proc.returncode != 0:
            return None
        return _parse_state(json.loads(proc.stdout))

    def list(self) -> list[ContainerState]:
        proc = self._call("list", "--format", "json", check=False)
        if proc.returncode != 0 or not proc.stdout.strip():
            return []
        return [_parse_state(item) for item in json.loads(proc.stdout) or []]

    def pause(self, container_id: str) -> None:
        self._freeze(container_id, True)

    def resume(self, container_id: str) -> None:
        self._freeze(container_id, False)

    def _freeze(self, container_id: str, frozen: bool) -> None:
        """Straight through the freezer cgroup (the runtime reads its state from there too),
        or by the runtime's own command where that fails."""
        try:
            cgroups.set_frozen(container_id, frozen)
        except OSError as exc:
            log.debug("freezer of %s: %s; asking %s", container_id, exc, self.name)
            self._call("pause" if frozen else "resume", container_id)

    def delete(self, container_id: str) -> None:
        state = self.state(container_id)
        if state is not None:
            if state.status == "paused":
                self._call("resume", container_id, check=False)
            if state.status != "stopped":
                self._call("kill", container_id, "KILL", check=False)
            proc = self._call("delete", "--force", container_id, check=False)
            if proc.returncode != 0 and self.state(container_id) is not None:
                raise RuntimeFailure(f"{self.name} delete failed: {_last_line(proc.stderr)}")
        shutil.rmtree(self.bundles_dir / container_id, ignore_errors=True)

    def _write_process(self, container_id: str, spec: ExecSpec, path: Path) -> None:
        """An exec's OCI process: the container's own (user, capabilities, no_new_privs...)
        with the command, cwd and environment of this exec."""
        try:
            config = json.loads((self.bundles_dir / container_id / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise RuntimeFailure(f"container {container_id} has no readable bundle: {exc}") from exc
        process = dict(config["process"])
        env = dict(item.split("=", 1) for item in process.get("env", []) if "=" in item)
        env.update(spec.env)
        process.update(args=list(spec.argv), env=[f"{k}={v}" for k, v in env.items()],
                       cwd=spec.cwd or process.get("cwd", "/"), terminal=False)  # fmt: skip
        _write_private(path, process)

    def holds(self, container_id: str) -> bool:
        return (self.state_root / container_id).is_dir()

    def update(
        self, container_id: str, cpu: float | None, memory_mib: int | None, pids: int | None
    ) -> None:
        """Apply new limits to a running container, live (None: leave as is)."""
        try:
            cgroups.apply_limits(container_id, cpu, memory_mib, pids)
        except OSError as exc:
            raise RuntimeFailure(f"cannot apply limits to {container_id}: {exc}") from exc

    def root_path(self, container_id: str, pid: int) -> str:
        # The recorded pid must still be this container's init, not a recycled host pid.
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                ours = f"/corral/{container_id}" in f.read()
        except OSError:
            ours = False
        if not ours:
            raise RuntimeFailure(f"workspace {container_id} has no running init",
                                 hint="restart the workspace")  # fmt: skip
        return f"/proc/{pid}/root"

    def reap(self, container_id: str, pid: int) -> Exited | None:
        exited, code = REAPER.collect(pid)
        return Exited(code) if exited else None

    # -- exec -----------------------------------------------------------------------------

    def _exec_pid_args(self, pid_file: Path) -> builtins.list[str]:
        """Where `exec` writes the pid of the process it runs (to kill it on a timeout)."""
        return ["--pid-file", str(pid_file)]

    def _kill_exec(self, container_id: str, pid_file: Path) -> None:
        """SIGKILL an exec'd process and its descendants (a timed-out command)."""
        _kill_tree(_read_pid(pid_file))

    async def exec(
        self, container_id: str, spec: ExecSpec
    ) -> AsyncIterator[OutputChunk | ExecExit]:
        exec_id = os.urandom(6).hex()
        pid_file = self.bundles_dir / container_id / f"exec-{exec_id}.pid"
        # The process (env included, which may hold secrets) goes in a private file, not on
        # the command line, where any user of the host could read it in `ps`.
        process_file = self.bundles_dir / container_id / f"exec-{exec_id}.json"
        self._write_process(container_id, spec, process_file)
        args = ["exec", *self._exec_pid_args(pid_file), "--process", str(process_file)]
        started = time.perf_counter()
        # Our own pipes, not asyncio's: asyncio's wait() also waits for its pipes to close,
        # which a background child of the command can hold open for ever.
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            with REAPER.spawning() as owned:
                proc = await asyncio.create_subprocess_exec(
                    *_AS_OOM_CANDIDATE, *self._cmd(*args, container_id),
                    stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
                    stdout=out_w,
                    stderr=err_w,
                )
                owned.add(proc.pid)
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            process_file.unlink(missing_ok=True)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        queue: asyncio.Queue[OutputChunk | None] = asyncio.Queue()
        readers = [
            asyncio.create_task(_pump(await _reader(out_r), "stdout", queue)),
            asyncio.create_task(_pump(await _reader(err_r), "stderr", queue)),
        ]
        feeder = asyncio.create_task(_feed(proc, spec.stdin))
        waiter = asyncio.create_task(proc.wait())
        deadline = started + spec.timeout
        timed_out = False
        open_streams = 2
        try:
            while open_streams:
                get = asyncio.create_task(queue.get())
                remaining = deadline - time.perf_counter()
                done, _ = await asyncio.wait(
                    {get, waiter}, timeout=max(remaining, 0), return_when=asyncio.FIRST_COMPLETED
                )
                if get in done:
                    chunk = get.result()
                    if chunk is None:
                        open_streams -= 1
                    else:
                        yield chunk
                    continue
                get.cancel()
                if waiter in done:
                    # Exited; give pipes held open by a left-behind child a short grace.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_drain(queue, open_streams), _PIPE_GRACE_S)
                    while not queue.empty():
                        item = queue.get_nowait()
                        if item is not None:
                            yield item
                    break
                timed_out = True
                self._kill_exec(container_id, pid_file)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                break
            exit_code = await proc.wait()
            if timed_out:
                # The killed command was re-parented to the daemon (a subreaper) when the
                # runtime's exec process died: reap it now, not at the reaper's next round,
                # so no zombie of it is left in the workspace.
                await asyncio.sleep(_REAP_AFTER_KILL_S)
                REAPER.reap_orphans()
        finally:
            for task in (*readers, feeder, waiter):
                task.cancel()
            with contextlib.suppress(ProcessLookupError):
                if proc.returncode is None:
                    self._kill_exec(container_id, pid_file)
                    proc.kill()
            for path in (pid_file, process_file):
                path.unlink(missing_ok=True)
            REAPER.release(proc.pid)
        if timed_out:
            exit_code = 137
        elif exit_code < 0:
            exit_code = 128 - exit_code
        yield ExecExit(exit_code, timed_out, (time.perf_counter() - started) * 1000)


async def _reader(fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_READ_CHUNK * 4)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    return reader, transport


async def _pump(
    pipe: tuple[asyncio.StreamReader, asyncio.BaseTransport],
    name: str,
    queue: asyncio.Queue,  # type: ignore[type-arg]
) -> None:
    stream, transport = pipe
    try:
        while data := await stream.read(_READ_CHUNK):
            await queue.put(OutputChunk(name, data))  # type: ignore[arg-type]
    finally:
        transport.close()
        await queue.put(None)


async def _drain(queue: asyncio.Queue, open_streams: int) -> None:  # type: ignore[type-arg]
    # Wait until both readers reported EOF, without consuming output (re-queued in order).
    held = []
    while open_streams:
        item = await queue.get()
        if item is None:
            open_streams -= 1
        else:
            held.append(item)
    for item in held:
        queue.put_nowait(item)


async def _feed(
    proc: asyncio.subprocess.Process, data: bytes | AsyncIterable[bytes] | None
) -> None:
    if proc.stdin is None or data is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        async for chunk in _once(data) if isinstance(data, bytes) else data:
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _write_private(path: Path, document: dict) -> None:  # type: ignore[type-arg]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        json.dump(document, f)


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text())
    except (OSError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            kids.append(int(entry))
    return kids


def _kill_tree(pid: int | None) -> None:
    """SIGKILL a process and its descendants (the exec'd command of a timed-out exec)."""
    if pid is None:
        return
    pending, tree = [pid], []
    while pending:
        current = pending.pop()
        tree.append(current)
        pending.extend(_children(current))
    for member in tree:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(member, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _parse_state(raw: dict) -> ContainerState:  # type: ignore[type-arg]
    status = raw.get("status", "stopped")
    pid = raw.get("pid") or None
    if status not in ("creating", "running", "paused"):
        status = "stopped"
    return ContainerState(raw["id"], status, pid)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return "no error output"
    last = lines[-1]
    try:
        return str(json.loads(last).get("msg", last))
    except (ValueError, AttributeError):
        return last
