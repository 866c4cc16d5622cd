"""Storage: encrypted disks, crypto-erase, snapshots and forks, side by side.

- disk create + mount + key (1 GiB sparse image, mkfs.ext4 -O encrypt, loop, fscrypt key);
  remount of an existing disk; crypto-erase (key out of the kernel, unmount, detach, delete);
- write throughput into the encrypted directory vs an unencrypted directory of the same
  loop-mounted ext4 (the ratio is the cost of encryption), and vs the host filesystem;
- through the API: create with and without a disk; destroy (with its crypto-erase); snapshot
  and fork of a workspace holding 100 MB (50 MB in its writable layer, 50 MB on its disk).

Run: `.venv/bin/python benchmarks/bench_storage.py [--runs 10]` (root; about a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import Sample, daemon, print_table, timed
from rich.console import Console
from rich.table import Table

from corral.drivers.storage.disks import EncryptedDisks

DISK_MIB = 1024
WRITE_MIB = 256


def free_subnet() -> str:
    """A /24 no route of this host uses (other daemons may be running here)."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    used = [
        ipaddress.ip_network(word, strict=False)
        for line in routes.splitlines()
        for word in line.split()[:1]
        if "/" in word or word.count(".") == 3
    ]
    while True:
        subnet = ipaddress.ip_network(f"10.{random.randint(78, 127)}.{random.randint(0, 255)}.0/24")
        if not any(subnet.overlaps(u) for u in used):
            return str(subnet)


def reflink_supported(directory: Path) -> bool:
    probe = directory / ".reflink-probe"
    probe.write_bytes(b"x" * 4096)
    try:
        return (
            subprocess.run(
                ["cp", "--reflink=always", str(probe), f"{probe}.copy"], capture_output=True
            ).returncode
            == 0
        )
    finally:
        for path in (probe, Path(f"{probe}.copy")):
            path.unlink(missing_ok=True)


def write_mb_per_s(directory: Path, runs: int) -> float:
    """Median MB/s of writing WRITE_MIB MiB and fsyncing it (dd conv=fsync)."""
    speeds = []
    for i in range(runs):
        target = directory / f"write-{i}"
        started = time.perf_counter()
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={WRITE_MIB}", "conv=fsync"],
            check=True,
            capture_output=True,
        )
        speeds.append(WRITE_MIB * 1.048576 / (time.perf_counter() - started))
        target.unlink()
    return statistics.median(speeds)


def driver_benchmarks(runs: int) -> tuple[list[Sample], Table]:
    base = Path(tempfile.mkdtemp(prefix="corral-bench-disks-", dir="/var/tmp"))
    disks = EncryptedDisks(base / "images", Path(f"/run/{base.name}"))
    keys = {f"d{i}": os.urandom(64) for i in range(runs)}
    created, remounted, erased = [], [], []
    try:
        for disk_id, key in keys.items():
            started = time.perf_counter()
            disks.create(disk_id, DISK_MIB, key)
            created.append((time.perf_counter() - started) * 1000)
        for disk_id, key in keys.items():
            disks.unmount(disk_id)
            started = time.perf_counter()
            disks.mount(disk_id, key)
            remounted.append((time.perf_counter() - started) * 1000)
        # Throughput: one disk, encrypted data dir vs a plain dir on the same filesystem.
        data = disks.data_dir("d0")
        plain = data.parent / "plain"
        plain.mkdir()
        host = base / "host"
        host.mkdir()
        encrypted_speed = write_mb_per_s(data, 3)
        plain_speed = write_mb_per_s(plain, 3)
        host_speed = write_mb_per_s(host, 3)
        plain.rmdir()
        for disk_id in keys:
            started = time.perf_counter()
            disks.erase(disk_id)
            erased.append((time.perf_counter() - started) * 1000)
    finally:
        for disk_id in keys:
            with contextlib.suppress(Exception):
                disks.erase(disk_id)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(disks.mounts_dir, ignore_errors=True)
    samples = [
        Sample(f"disk create+mount+key ({DISK_MIB} MiB, sparse)", created),
        Sample("disk remount + key (existing image)", remounted),
        Sample("crypto-erase, kernel side (key, unmount, detach, delete)", erased),
    ]
    table = Table(title=f"write throughput ({WRITE_MIB} MiB, dd conv=fsync, median of 3)")
    for column in ("where", "MB/s", "vs unencrypted"):
        table.add_column(column, justify="left" if column == "where" else "right")
    for name, speed in (
        ("encrypted dir (fscrypt) on the loop ext4", encrypted_speed),
        ("unencrypted dir, same loop ext4", plain_speed),
        ("host filesystem (no loop)", host_speed),
    ):
        table.add_row(name, f"{speed:.0f}", f"{speed / plain_speed:.2f}x")
    return samples, table


def api_benchmarks(runs: int) -> list[Sample]:
    samples = []
    with (
        daemon(CORRAL_SUBNET=free_subnet()) as d,
        httpx.Client(
            base_url=d.url, timeout=600, headers={"Authorization": f"Bearer {d.api_key}"}
        ) as http,
    ):
        counter = iter(range(10_000))

        def create(**spec: object) -> dict:  # type: ignore[type-arg]
            response = http.post("/v1/workspaces", json={"name": f"b{next(counter)}", **spec})
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        made: list[dict] = []  # type: ignore[type-arg]
        samples.append(
            Sample("create workspace, no disk", timed(lambda: made.append(create()), runs))
        )
        samples.append(
            Sample(
                f"create workspace + {DISK_MIB} MiB disk",
                timed(lambda: made.append(create(disk_mib=DISK_MIB)), runs),
            )
        )
        plain = [w for w in made if w["disk_mib"] is None]
        with_disk = [w for w in made if w["disk_mib"] is not None]
        samples.append(
            Sample(
                "destroy workspace, no disk",
                timed(lambda: http.delete(f"/v1/workspaces/{plain.pop()['id']}"), runs, warmup=0),
            )
        )
        samples.append(
            Sample(
                "destroy workspace + disk (crypto-erase)",
                timed(
                    lambda: http.delete(f"/v1/workspaces/{with_disk.pop()['id']}"), runs, warmup=0
                ),
            )
        )

        source = create(disk_mib=DISK_MIB, command="sleep 100000")
        fill = (
            "head -c 52428800 /dev/urandom > /root/layer.bin && "
            "head -c 52428800 /dev/urandom > /data/disk.bin && sync"
        )
        http.post(f"/v1/workspaces/{source['id']}/exec", json={"command": fill}).raise_for_status()
        snapshot_ms, snapshot_server_ms, fork_ms = [], [], []
        copy_runs = max(3, runs // 3)
        for i in range(copy_runs):
            started = time.perf_counter()
            response = http.post(f"/v1/workspaces/{source['id']}/snapshot", json={"name": f"t{i}"})
            snapshot_ms.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            snapshot_server_ms.append(response.json()["duration_ms"])
            started = time.perf_counter()
            response = http.post(f"/v1/workspaces/{source['id']}/fork", json={"name": f"f{i}"})
            fork_ms.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        samples += [
            Sample("snapshot of a 100 MB workspace (API round trip)", snapshot_ms),
            Sample("snapshot of a 100 MB workspace (server: copy)", snapshot_server_ms),
            Sample("fork of a 100 MB workspace, running (API round trip)", fork_ms),
        ]
        from_template = []
        for i in range(copy_runs):
            started = time.perf_counter()
            create(template=f"t{i}")
            from_template.append((time.perf_counter() - started) * 1000)
        samples.append(Sample("create from that template (50 MB disk copied)", from_template))
        for ws in http.get("/v1/workspaces").json()["workspaces"]:
            http.delete(f"/v1/workspaces/{ws['id']}")
        for i in range(copy_runs):
            http.delete(f"/v1/templates/t{i}")
        run_dir = d.run_dir
    from corral.drivers.network.bridge import remove_hub

    try:
        remove_hub(run_dir)  # the daemon's network hub (namespace, veth, nft table)
    except Exception as exc:
        print(f"warning: could not remove the hub of {run_dir}: {exc!r}", file=sys.stderr)
    shutil.rmtree(run_dir, ignore_errors=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_storage needs root (loop devices, mounts, containers)")
    console = Console()
    reflink = reflink_supported(Path("/var/tmp"))
    console.print(f"reflink on the state filesystem: {'yes' if reflink else 'no (real copies)'}")
    samples, throughput = driver_benchmarks(args.runs)
    print_table("encrypted disks (driver)", samples)
    console.print(throughput)
    print_table("through the API (real daemon, real containers)", api_benchmarks(args.runs))


if __name__ == "__main__":
    main()
