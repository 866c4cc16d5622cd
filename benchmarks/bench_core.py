"""Issue 3 benchmark: create -> first exec output, exec round trip, pause/resume.

Side by side in one run, on the same root filesystem (the `host` image: skeleton + host
/usr bound read-only) and the same command (`echo hi`):
- raw `bwrap`: the floor of fork + namespaces + exec;
- raw `crun run` / `runc run` with corral's own generated OCI config, in the foreground;
- corral through the Python SDK over HTTP: create a workspace, exec `echo hi`, read output.

Run: `.venv/bin/python benchmarks/bench_core.py [--runs 50]` (as root).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import httpx
import peers
from harness import Sample, daemon, print_table, timed

from corral import Client
from corral.drivers.storage.images import ImageStore


def raw_baselines(runs: int, state_dir: Path) -> list[Sample]:
    images = ImageStore(state_dir / "images")
    samples = []
    if run := peers.bwrap(images.lower_dir("host")):
        samples.append(Sample("raw bwrap echo", timed(run, runs)))
    with peers.oci_bundles(images) as runner:
        for runtime in ("crun", "runc"):
            if run := runner(runtime):
                samples.append(Sample(f"raw {runtime} run echo", timed(run, runs)))
    return samples


def corral_samples(runs: int, url: str, key: str) -> list[Sample]:
    counter = iter(range(10**6))
    created: list = []
    with Client(url=url, api_key=key) as client:

        def create_and_exec() -> None:
            ws = client.workspaces.create(name=f"bench-{next(counter)}")
            assert ws.exec(["echo", "hi"]).stdout == "hi\n"
            created.append(ws)

        first_output = timed(create_and_exec, runs)
        for ws in created:
            ws.destroy()
        created.clear()
        # The same, served from a warm pool (what `make up` runs with by default).
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
            http.put("/v1/admin/pools/host", json={"size": runs + 2})
            while http.get("/v1/admin/pools").json()["pools"][0]["ready"] < runs + 2:
                time.sleep(0.2)
            warm_output = timed(create_and_exec, runs, warmup=0)
            http.put("/v1/admin/pools/host", json={"size": 0})
        for ws in created:
            ws.destroy()
        ws = client.workspaces.create(name="bench-exec")
        exec_rt = timed(lambda: ws.exec(["echo", "hi"]), runs * 2)
        pause = []
        resume = []
        for _ in range(runs):
            pause += timed(ws.pause, 1, warmup=0)
            resume += timed(ws.resume, 1, warmup=0)
        destroy = []
        for i in range(min(runs, 20)):
            victim = client.workspaces.create(name=f"bench-destroy-{i}")
            destroy += timed(victim.destroy, 1, warmup=0)
        ws.destroy()
    return [
        Sample("corral create -> first exec output", first_output),
        Sample("corral create (warm pool) -> first output", warm_output),
        Sample("corral exec round trip (echo)", exec_rt),
        Sample("corral pause", pause),
        Sample("corral resume", resume),
        Sample("corral destroy", destroy),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with daemon(CORRAL_WARM_POOL="host=0") as d:
        samples = raw_baselines(args.runs, d.state_dir)
        samples += corral_samples(args.runs, d.url, d.api_key)
    reference = next((s.name for s in samples if s.name.startswith("raw crun")), None) or next(
        (s.name for s in samples if s.name.startswith("raw runc")), None
    )
    print_table("corral core latency (ms)", samples, reference)


if __name__ == "__main__":
    main()
