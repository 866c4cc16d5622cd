"""Shared benchmark plumbing: a throwaway daemon, timing, and a side-by-side table."""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table


@dataclass
class Sample:
    name: str
    values_ms: list[float]

    @property
    def p50(self) -> float:
        return statistics.median(self.values_ms)

    def pct(self, q: float) -> float:
        ordered = sorted(self.values_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    values = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        values.append((time.perf_counter() - start) * 1000)
    return values


@dataclass
class BenchDaemon:
    url: str
    api_key: str
    state_dir: Path
    run_dir: Path


def free_subnet(prefix: int = 24) -> str:
    """A private IPv4 range for a daemon's workspaces that no route of this host overlaps
    (other daemons, and other engineers' test sessions, may be running here)."""
    import ipaddress
    import json
    import random

    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "table", "all"],
                                       capture_output=True, text=True).stdout or "[]")  # fmt: skip
    used = [ipaddress.ip_network(r["dst"], strict=False) for r in routes
            if "/" in r.get("dst", "")]  # fmt: skip
    while True:
        base = ipaddress.ip_address(f"10.{random.randint(78, 127)}.{random.randint(0, 255)}.0")
        subnet = ipaddress.ip_network(f"{base}/{prefix}", strict=False)
        if not any(subnet.overlaps(u) for u in used):
            return str(subnet)


@contextmanager
def daemon(**env: str) -> Iterator[BenchDaemon]:
    """A real `corral serve` with its own state and subnet, on a free loopback port; its
    network hub is removed afterwards."""
    env.setdefault("CORRAL_SUBNET", free_subnet())
    base = Path(tempfile.mkdtemp(prefix="corral-bench-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = Path(f"/run/corral-bench-{base.name}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "corral.cli", "serve"],
        env={**os.environ, "CORRAL_STATE_DIR": str(base / "state"), "CORRAL_RUN_DIR": str(run_dir),
             "CORRAL_PORT": str(port), "CORRAL_LOG_LEVEL": "WARNING", "CORRAL_WARM_POOL": "",
             **env},
        stdout=subprocess.DEVNULL, stderr=open(base / "daemon.log", "wb"), start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/v1/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        key = (base / "state" / "admin.key").read_text().strip()
        yield BenchDaemon(url, key, base / "state", run_dir)
    finally:
        try:
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
                for ws in http.get("/v1/workspaces").json()["workspaces"]:
                    http.delete(f"/v1/workspaces/{ws['id']}")
                drain_pool(http, run_dir)
        except Exception:
            pass
        proc.terminate()
        proc.wait(timeout=30)
        from corral.drivers.network.bridge import remove_hub

        remove_hub(run_dir)
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)


def drain_pool(http: httpx.Client, run_dir: Path, timeout: float = 120) -> None:
    """Empty the warm pool and wait until its sandboxes are gone: workspaces outlive the
    daemon by design, so a throwaway daemon must not leave pooled ones behind."""
    if http.put("/v1/admin/pools/host", json={"size": 0}).status_code != 200:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runtime = json.loads(subprocess.run(
            ["crun", "--root", str(run_dir / "runtime"), "list", "--format", "json"],
            capture_output=True, text=True).stdout or "[]")  # fmt: skip
        if not runtime:
            return
        time.sleep(0.2)


def print_table(title: str, samples: list[Sample], reference: str | None = None) -> None:
    table = Table(title=title)
    for column in ("what", "runs", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right" if column != "what" else "left")
    if reference:
        table.add_column(f"p50 vs {reference}", justify="right")
    ref = next((s.p50 for s in samples if s.name == reference), None)
    for s in samples:
        row = [s.name, str(len(s.values_ms)), f"{s.p50:.2f}", f"{s.pct(0.95):.2f}",
               f"{s.pct(0.99):.2f}"]  # fmt: skip
        if reference:
            row.append(f"{s.p50 / ref:.2f}x" if ref else "-")
        table.add_row(*row)
    Console().print(table)
