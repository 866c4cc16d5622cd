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
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from harness import Sample, daemon, print_table, timed

from corral import Client
from corral.drivers.network.netns import create_netns, remove_netns
from corral.drivers.runtime.base import ContainerSpec
from corral.drivers.runtime.ocispec import build_config
from corral.drivers.runtime.select import choose_init
from corral.drivers.storage.images import ImageStore


def raw_baselines(runs: int, state_dir: Path) -> list[Sample]:
    images = ImageStore(state_dir / "images")
    skeleton = images.lower_dir("host")
    samples = []
    bwrap = ["bwrap", "--ro-bind", str(skeleton), "/", "--ro-bind", "/usr", "/usr",
             "--proc", "/proc", "--dev", "/dev", "--unshare-all", "--die-with-parent",
             "echo", "hi"]  # fmt: skip
    samples.append(Sample("raw bwrap echo", timed(lambda: _check(bwrap), runs)))
    work = Path(tempfile.mkdtemp(prefix="corral-bench-raw-"))
    netns = work / "netns"
    create_netns(netns)
    try:
        for runtime in ("crun", "runc"):
            if not shutil.which(runtime):
                continue
            bundle = work / runtime
            bundle.mkdir()
            spec = ContainerSpec(id="bench", rootfs=skeleton, command=["echo", "hi"], env={},
                                 hostname="bench", netns=str(netns), log_path=work / "log",
                                 mounts=images.mounts("host"))  # fmt: skip
            config = build_config(spec, f"/corral-bench/{runtime}", choose_init())
            config["root"]["readonly"] = True  # the shared skeleton must stay untouched
            (bundle / "config.json").write_text(json.dumps(config))
            root = work / f"{runtime}-state"
            counter = iter(range(10**6))

            def run(runtime: str = runtime, bundle: Path = bundle, root: Path = root) -> None:
                _check([runtime, "--root", str(root), "run", "--bundle", str(bundle),
                        f"b{next(counter)}"])  # fmt: skip

            try:
                samples.append(Sample(f"raw {runtime} run echo", timed(run, runs)))
            except subprocess.CalledProcessError as exc:
                print(f"{runtime} baseline failed: {exc.stderr or exc}")
    finally:
        remove_netns(netns)
        shutil.rmtree(work, ignore_errors=True)
    return samples


def _check(argv: list[str]) -> None:
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode != 0 or out.stdout.strip() != "hi":
        raise subprocess.CalledProcessError(out.returncode, argv, out.stdout, out.stderr)


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
        Sample("corral exec round trip (echo)", exec_rt),
        Sample("corral pause", pause),
        Sample("corral resume", resume),
        Sample("corral destroy", destroy),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    with daemon() as d:
        samples = raw_baselines(args.runs, d.state_dir)
        samples += corral_samples(args.runs, d.url, d.api_key)
    reference = next((s.name for s in samples if s.name.startswith("raw crun")), None) or next(
        (s.name for s in samples if s.name.startswith("raw runc")), None
    )
    print_table("corral core latency (ms)", samples, reference)


if __name__ == "__main__":
    main()
