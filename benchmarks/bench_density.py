"""Density: how many idle workspaces run at once, and host memory per idle workspace.

Creates N idle workspaces (default 1000) through the API in concurrent batches, then reads:
- host memory used (MemTotal - MemAvailable) before and after, per workspace;
- the RSS of each workspace's own processes (its init), summed;
- the difference: host memory per workspace *beyond its own processes* (kernel objects:
  namespaces, cgroups, mounts, veths; page cache of its overlay; the daemon's bookkeeping).
Then destroys them all and reports how long each phase took.

Run: `.venv/bin/python benchmarks/bench_density.py [--count 1000] [--concurrency 16]`.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from harness import daemon, free_subnet
from rich.console import Console
from rich.table import Table


def mem_used_mib() -> float:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mib(pid: int) -> float:
    """RSS of a process and its descendants (a workspace's own processes)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        total += rss_mib(current)
        children = Path(f"/proc/{current}/task/{current}/children")
        if children.exists():
            pending += [int(c) for c in children.read_text().split()]
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    # A /20: room for more than a thousand addresses.
    with daemon(CORRAL_METRICS_INTERVAL="3600", CORRAL_SUBNET=free_subnet(20)) as d:
        headers = {"Authorization": f"Bearer {d.api_key}"}
        with httpx.Client(base_url=d.url, headers=headers, timeout=120) as http:
            time.sleep(1)
            before = mem_used_mib()
            started = time.monotonic()
            failures: list[str] = []

            def create(i: int) -> str | None:
                r = http.post("/v1/workspaces", json={"name": f"idle-{i}"})
                if r.status_code != 201:
                    failures.append(r.text[:200])
                    return None
                return str(r.json()["id"])

            with ThreadPoolExecutor(args.concurrency) as pool:
                ids = [i for i in pool.map(create, range(args.count)) if i]
            create_s = time.monotonic() - started
            time.sleep(2)
            after = mem_used_mib()
            alive = http.post(f"/v1/workspaces/{ids[-1]}/exec", json={"command": "echo ok"})
            runtime_root = d.run_dir / "bundles"
            own = 0.0
            for wid in ids:
                pid_file = runtime_root / wid / "pid"
                if pid_file.exists():
                    own += tree_rss_mib(int(pid_file.read_text()))
            started = time.monotonic()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(lambda wid: http.delete(f"/v1/workspaces/{wid}"), ids))
            destroy_s = time.monotonic() - started
    n = max(len(ids), 1)
    table = Table(title=f"density: {len(ids)} idle workspaces ({len(failures)} failed)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("idle workspaces alive at once", f"{len(ids)}"),
        ("last one answers exec", "yes" if alive.status_code == 200 else f"no: {alive.text}"),
        ("create all (s)", f"{create_s:.1f}  ({len(ids) / create_s:.0f}/s)"),
        ("destroy all (s)", f"{destroy_s:.1f}  ({len(ids) / destroy_s:.0f}/s)"),
        ("host memory used, total (MiB)", f"{after - before:.0f}"),
        ("host memory per workspace (MiB)", f"{(after - before) / n:.2f}"),
        ("workspaces' own processes, RSS per ws (MiB)", f"{own / n:.2f}"),
        ("host memory per ws beyond own processes (MiB)", f"{(after - before - own) / n:.2f}"),
    ]
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    if failures:
        print("first failure:", failures[0])


if __name__ == "__main__":
    main()
