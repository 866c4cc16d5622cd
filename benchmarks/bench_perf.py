"""Issue 11: how fast a sandbox appears, against peers, side by side in one run.

1. create -> first output of `echo hi`, same root filesystem, same command:
   raw bwrap (the floor), raw crun/runc/runsc run with corral's own OCI config, docker run
   (Debian's docker.io, its own data root, started and stopped here, no network), and corral
   through its Python SDK over HTTP, cold (a boot) and warm (claimed from the warm pool).
2. warm-pool claim latency: in the API call alone (create returns), p50/p99.
3. concurrency: 20 and 100 concurrent creates -> first exec output, p50/p99, cold and warm.
4. churn: sustained create + exec + destroy for --churn-seconds; rate, errors, leaks.

Run: `.venv/bin/python benchmarks/bench_perf.py [--runs 30] [--churn-seconds 60]` (root).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import peers
from harness import Sample, daemon, print_table, timed
from rich.console import Console
from rich.table import Table

from corral import Client
from corral.drivers.storage.images import ImageStore

names = (f"b{i}" for i in itertools.count())


def create_then_echo(client: Client) -> Callable[[], None]:
    def run() -> None:
        ws = client.workspaces.create(next(names))
        assert ws.exec(["echo", "hi"]).stdout == "hi\n"
        created.append(ws)

    created: list = []
    run.created = created  # type: ignore[attr-defined]
    return run


def destroy_all(client: Client) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda w: w.destroy(), client.workspaces.list()))


def wait_pool(http: httpx.Client, size: int, timeout: float = 300) -> None:
    http.put("/v1/admin/pools/host", json={"size": size})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = http.get("/v1/admin/pools").json()["pools"]
        if status and status[0]["ready"] >= size:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the pool did not reach {size}")


def concurrent_first_output(client: Client, n: int) -> list[float]:
    def one(_: int) -> float:
        started = time.perf_counter()
        ws = client.workspaces.create(next(names))
        assert ws.exec(["echo", "hi"]).stdout == "hi\n"
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def churn(client: Client, seconds: float, workers: int = 4) -> tuple[int, int, float]:
    deadline = time.monotonic() + seconds
    done, errors = [0], [0]

    def loop(_: int) -> None:
        while time.monotonic() < deadline:
            try:
                ws = client.workspaces.create(next(names))
                ws.exec(["true"])
                ws.destroy()
                done[0] += 1
            except Exception:
                errors[0] += 1

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(loop, range(workers)))
    return done[0], errors[0], time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--churn-seconds", type=float, default=60)
    args = parser.parse_args()
    console = Console()
    with daemon(CORRAL_WARM_POOL="host=0") as d:
        images = ImageStore(d.state_dir / "images")
        images.lower_dir("host")
        samples: list[Sample] = []
        if run := peers.bwrap(images.lower_dir("host")):
            samples.append(Sample("raw bwrap", timed(run, args.runs)))
        with peers.oci_bundles(images) as runner:
            for runtime in ("crun", "runc", "runsc"):
                if run := runner(runtime):
                    try:
                        samples.append(Sample(f"raw {runtime} run", timed(run, args.runs)))
                    except RuntimeError as exc:
                        console.print(f"[yellow]{runtime} skipped: {exc}")
        with peers.docker(images) as run:
            if run is not None:
                samples.append(Sample("docker run", timed(run, max(args.runs // 2, 5))))
            else:
                console.print("[yellow]docker skipped: dockerd not available")
        headers = {"Authorization": f"Bearer {d.api_key}"}
        with Client(url=d.url, api_key=d.api_key) as client, \
                httpx.Client(base_url=d.url, headers=headers, timeout=300) as http:  # fmt: skip
            cold = create_then_echo(client)
            samples.append(Sample("corral cold (SDK)", timed(cold, args.runs)))
            destroy_all(client)
            wait_pool(http, args.runs + 2)
            warm = create_then_echo(client)
            samples.append(Sample("corral warm pool (SDK)", timed(warm, args.runs, warmup=0)))
            destroy_all(client)
            wait_pool(http, args.runs + 2)
            claims = Sample("corral claim, API call only", timed(
                lambda: client.workspaces.create(next(names)), args.runs, warmup=0))  # fmt: skip
            destroy_all(client)
            print_table("create -> first output of `echo hi` (ms), same rootfs and command",
                        samples + [claims], reference="corral warm pool (SDK)")  # fmt: skip

            table = Table(title="concurrent creates -> first exec output (ms)")
            for column in ("concurrency", "mode", "p50", "p99", "max", "wall s"):
                table.add_column(column, justify="right")
            for n in (20, 100):
                for mode in ("cold", "warm"):
                    wait_pool(http, n if mode == "warm" else 0)
                    started = time.monotonic()
                    values = concurrent_first_output(client, n)
                    wall = time.monotonic() - started
                    s = Sample("", values)
                    table.add_row(str(n), mode, f"{s.p50:.0f}", f"{s.pct(0.99):.0f}",
                                  f"{max(values):.0f}", f"{wall:.2f}")  # fmt: skip
                    destroy_all(client)
            console.print(table)

            wait_pool(http, 0)
            count, errors, took = churn(client, args.churn_seconds)
            left = [w.name for w in client.workspaces.list()]
    run_dir = Path(str(d.run_dir))
    leftovers = [p for p in (run_dir / "runtime").glob("*")] if run_dir.exists() else []
    table = Table(title=f"churn: create + exec + destroy for {args.churn_seconds:.0f}s, 4 workers")
    for column in ("cycles", "per second", "errors", "workspaces left", "containers left"):
        table.add_column(column, justify="right")
    table.add_row(str(count), f"{count / took:.1f}", str(errors), str(len(left)),
                  str(len(leftovers)))  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    main()
