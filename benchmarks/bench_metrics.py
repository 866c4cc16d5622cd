"""Issue 7 benchmark: the CPU cost of sampling metrics of many workspaces.

Measured, not extrapolated: a real `corral serve` (sampling every 5 s, its default) runs
`--workspaces` real idle workspaces (500 by default); the sampler thread reports the CPU time
of each of its ticks (`time.thread_time`, exposed in `/v1/metrics/summary`), which this script
reads over `--ticks` ticks. One tick lists the workspaces from the store and, for each, reads
its cgroup files, its namespace's interface counters and, when due, walks its writable layer
(a small layer every tick: walks are spaced by what they cost).
Side by side, the per-workspace cost of each of those reads, timed here in-process.

Run: `.venv/bin/python benchmarks/bench_metrics.py [--workspaces 500] [--ticks 6]` (as root).
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from harness import Sample, daemon, timed
from rich.console import Console
from rich.table import Table

from corral.drivers.network.bridge import remove_hub
from corral.metrics import disk, netdev
from corral.metrics.cgroup import CgroupLayout

INTERVAL_S = 5.0


def free_subnet(prefix: int = 22) -> str:
    """A private subnet no route of this host overlaps, big enough for every workspace."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    used = [ipaddress.ip_network(line.split()[0], strict=False) for line in routes.splitlines()
            if line and line.split()[0][0].isdigit()]  # fmt: skip
    while True:
        subnet = ipaddress.ip_network(
            f"10.{random.randint(128, 250)}.{random.randrange(0, 256, 4)}.0/{prefix}"
        )
        if not any(subnet.overlaps(u) for u in used):
            return str(subnet)


def create_many(url: str, key: str, count: int) -> list[str]:
    headers = {"Authorization": f"Bearer {key}"}

    def create(i: int) -> str:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
            for _ in range(3):
                response = http.post("/v1/workspaces", json={"name": f"idle-{i}", "memory_mib": 64})
                if response.status_code == 201:
                    return str(response.json()["id"])
                # Not what is measured here: report it, try again.
                print(f"create idle-{i} failed ({response.status_code} {response.text}), retrying")
            raise RuntimeError(f"create failed: {response.status_code} {response.text}")

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(create, range(count)))


def tick_costs(url: str, key: str, ticks: int, count: int) -> list[tuple[float, float, int]]:
    """(cpu ms, wall ms, workspaces) of `ticks` distinct sampler ticks."""
    seen: list[tuple[float, float, int]] = []
    last = None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as http:
        deadline = time.monotonic() + (ticks + 4) * INTERVAL_S * 3
        while len(seen) < ticks and time.monotonic() < deadline:
            sampler = http.get("/v1/metrics/summary", params={"points": 0}).json()["sampler"]
            stamp = (sampler["tick_cpu_ms"], sampler["tick_ms"], sampler["workspaces"])
            if sampler["workspaces"] >= count and stamp != last:
                seen.append(stamp)
                last = stamp
            time.sleep(INTERVAL_S / 4)
    return seen


def read_costs(ids: list[str], run_dir: str, state_dir: str) -> list[Sample]:
    layout = CgroupLayout.detect()
    pids = [int(open(f"{run_dir}/bundles/{i}/pid").read()) for i in ids]
    uppers = [f"{state_dir}/workspaces/{i}/upper" for i in ids]
    n = len(ids)

    def per_workspace(fn) -> list[float]:  # type: ignore[no-untyped-def]
        return [ms * 1000 / n for ms in timed(fn, runs=5, warmup=1)]  # µs per workspace

    return [
        Sample("cgroup files (cpu, memory, pids, OOM, blkio)",
               per_workspace(lambda: [layout.read(i) for i in ids])),
        Sample("/proc/<pid>/net/dev",
               per_workspace(lambda: [netdev.read_net_dev(p) for p in pids])),
        Sample("writable layer walk (when due)",
               per_workspace(lambda: [disk.tree_usage(u) for u in uppers])),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workspaces", type=int, default=500)
    parser.add_argument("--ticks", type=int, default=6)
    args = parser.parse_args()
    run_dir = None
    try:
        with daemon(CORRAL_METRICS_INTERVAL=str(INTERVAL_S), CORRAL_SUBNET=free_subnet()) as d:
            run_dir = d.run_dir
            started = time.perf_counter()
            ids = create_many(d.url, d.api_key, args.workspaces)
            print(f"created {len(ids)} idle workspaces in {time.perf_counter() - started:.1f}s")
            reads = read_costs(ids, str(d.run_dir), str(d.state_dir))
            ticks = tick_costs(d.url, d.api_key, args.ticks, len(ids))
    finally:
        if run_dir is not None:
            remove_hub(run_dir)  # a daemon's private network hub outlives it on purpose
    table = Table(title=f"one workspace's reads, timed here over all {len(ids)} (median of 5)")
    table.add_column("what")
    table.add_column("wall µs per workspace", justify="right")
    for sample in reads:
        table.add_row(sample.name, f"{sample.p50:.0f}")
    Console().print(table)
    cpu_ms = statistics.median(t[0] for t in ticks)
    wall_ms = statistics.median(t[1] for t in ticks)
    table = Table(title=f"sampler in the daemon: {len(ids)} workspaces every {INTERVAL_S:g}s, "
                        f"median of {len(ticks)} ticks")  # fmt: skip
    for column in ("what", "value"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row("tick CPU time (sampler thread)", f"{cpu_ms:.1f} ms")
    table.add_row("tick wall time", f"{wall_ms:.1f} ms")
    table.add_row("CPU per workspace per tick", f"{cpu_ms * 1000 / len(ids):.0f} µs")
    table.add_row("share of one core", f"{cpu_ms / (INTERVAL_S * 1000):.2%}")
    Console().print(table)


if __name__ == "__main__":
    main()
