"""Peers run side by side with corral: raw OCI runtimes, bwrap, gVisor and Docker.

Every peer runs the same command (`echo hi`) on the same root filesystem: corral's `host`
image skeleton with the host's /usr bound read-only, no network. Each function returns a
zero-argument callable that runs the peer once (checked: it must print `hi`), or None
when the peer is not installed here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from corral.drivers.network.netns import create_netns, remove_netns
from corral.drivers.runtime.base import ContainerSpec
from corral.drivers.runtime.ocispec import build_config
from corral.drivers.runtime.select import choose_init
from corral.drivers.storage.images import ImageStore

Run = Callable[[], None]


def check(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0 or out.stdout.strip() != "hi":
        raise RuntimeError(f"{argv[0]} failed ({out.returncode}): {out.stderr.strip()[-300:]}")


def bwrap(skeleton: Path) -> Run | None:
    if not shutil.which("bwrap"):
        return None
    argv = ["bwrap", "--ro-bind", str(skeleton), "/", "--ro-bind", "/usr", "/usr",
            "--proc", "/proc", "--dev", "/dev", "--unshare-all", "--die-with-parent",
            "echo", "hi"]  # fmt: skip
    return lambda: check(argv)


@contextlib.contextmanager
def oci_bundles(images: ImageStore) -> Iterator[Callable[[str], Run | None]]:
    """Raw `crun run` / `runc run` / `runsc run` with corral's own generated OCI config."""
    work = Path(tempfile.mkdtemp(prefix="corral-peers-"))
    netns = work / "netns"
    create_netns(netns)
    counter = iter(range(10**6))

    def runner(runtime: str) -> Run | None:
        if not shutil.which(runtime):
            return None
        bundle = work / runtime
        bundle.mkdir()
        spec = ContainerSpec(id="peer", rootfs=images.lower_dir("host"), command=["echo", "hi"],
                             env={}, hostname="peer", netns=str(netns), log_path=work / "log",
                             mounts=images.mounts("host"))  # fmt: skip
        config = build_config(spec, f"/corral-peers/{runtime}", choose_init())
        config["root"]["readonly"] = True
        if runtime == "runsc":  # gVisor has its own kernel: no host seccomp/cgroup ns needed
            config["linux"].pop("seccomp", None)
        (bundle / "config.json").write_text(json.dumps(config))
        root = work / f"{runtime}-state"
        extra = ["--platform=ptrace", "--network=none"] if runtime == "runsc" else []
        return lambda: check([runtime, "--root", str(root), *extra, "run", "--bundle",
                              str(bundle), f"p{next(counter)}"])  # fmt: skip

    try:
        yield runner
    finally:
        remove_netns(netns)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def docker(images: ImageStore) -> Iterator[Run | None]:
    """`docker run` on Debian's docker.io, with its own data root, started and stopped here,
    on a private unix socket, with no bridge and no iptables changes (loopback only)."""
    if not shutil.which("dockerd"):
        yield None
        return
    base = Path(tempfile.mkdtemp(prefix="corral-docker-"))
    sock = f"unix://{base}/docker.sock"
    log = open(base / "dockerd.log", "wb")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
         "-H", sock, "--pidfile", str(base / "dockerd.pid"), "--bridge=none",
         "--iptables=false", "--ip6tables=false", "--ip-masq=false"],
        stdout=log, stderr=log, start_new_session=True,
    )  # fmt: skip
    cli = ["docker", "-H", sock]
    try:
        for _ in range(300):
            if subprocess.run([*cli, "info"], capture_output=True).returncode == 0:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        else:
            yield None
            return
        tar_path = base / "rootfs.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(images.lower_dir("host"), arcname=".")
        subprocess.run([*cli, "import", str(tar_path), "corral-peer:latest"], check=True,
                       capture_output=True)  # fmt: skip
        argv = [*cli, "run", "--rm", "--network", "none", "-v", "/usr:/usr:ro",
                "corral-peer:latest", "echo", "hi"]  # fmt: skip
        yield lambda: check(argv)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for mount in sorted(_mounts_under(str(base)), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def _mounts_under(prefix: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(prefix)]
