"""Metrics against the real daemon (sampling every second, see tests/conftest.py): history,
anomalies and their events, OOM kills, the fleet summary, Prometheus, SDK and `corral stats`."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon
from typer.testing import CliRunner

from corral import AsyncClient, Client
from corral.cli.main import app

pytestmark = pytest.mark.integration
MIB = 1024 * 1024

# Fill the workspace's memory to 94% of its limit (working set, as corral counts it), hold it.
FILL_MEMORY = """
import time
def first(*paths):
    for path in paths:
        try:
            return open(path).read()
        except OSError:
            pass
def number(*paths):
    text = first(*paths).strip()
    return None if text == "max" else int(text)
def working_set():
    usage = number("/sys/fs/cgroup/memory/memory.usage_in_bytes", "/sys/fs/cgroup/memory.current")
    stat = dict(line.split() for line in first("/sys/fs/cgroup/memory/memory.stat",
                                               "/sys/fs/cgroup/memory.stat").splitlines())
    return usage - int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))
limit = number("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max")
held = []
while working_set() < 0.94 * limit:
    held.append(b"x" * (256 * 1024))
open("/tmp/full", "w").write("1")
time.sleep(600)
"""


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def make(http: httpx.Client, unique_name: str) -> Iterator[Callable[..., dict[str, Any]]]:
    made: list[str] = []
    counter = iter(range(100))

    def create(**body: Any) -> dict[str, Any]:
        response = http.post("/v1/workspaces", json={"name": f"{unique_name}-{next(counter)}",
                                                     **body})  # fmt: skip
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return response.json()  # type: ignore[no-any-return]

    yield create
    for wid in made:
        http.delete(f"/v1/workspaces/{wid}")


def metrics(http: httpx.Client, wid: str, **params: str) -> dict[str, Any]:
    response = http.get(f"/v1/workspaces/{wid}/metrics", params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def events(http: httpx.Client, wid: str, type: str) -> list[dict[str, Any]]:
    response = http.get("/v1/events", params={"workspace": wid, "type": type})
    return response.json()["events"]  # type: ignore[no-any-return]


def test_history_and_current_sample(http: httpx.Client, make: Callable[..., dict]) -> None:
    ws = make(memory_mib=128, cpu=1.5)
    wid = ws["id"]
    http.post(f"/v1/workspaces/{wid}/exec",
              json={"command": "head -c 3000000 /dev/urandom > /srv/blob"})  # fmt: skip
    body = wait_for(lambda: (m := metrics(http, wid)) and len(m["history"]) >= 3 and m, 15,
                    "three samples")  # fmt: skip
    assert body["workspace_id"] == wid and body["name"] == ws["name"]
    assert body["state"] == "running" and body["interval_seconds"] == 1
    now = body["current"]
    assert now["memory_limit_bytes"] == 128 * MIB and now["cpu_limit"] == 1.5
    assert 0 < now["memory_bytes"] < 128 * MIB and 0 < now["memory_percent"] < 100
    assert now["pids"] >= 1 and now["cpu_percent"] is not None and now["cpu_usage_seconds"] > 0
    assert now["oom_kills"] == 0 and now["restarts"] == 0
    assert now["net_rx_bytes"] >= 0 and now["net_rx_bytes_per_s"] >= 0
    # The blob is in the writable layer (a small layer is walked at every sample).
    wait_for(lambda: metrics(http, wid)["current"]["rootfs_used_bytes"] >= 3_000_000, 10,
             "the writable layer's usage")  # fmt: skip
    assert body["anomalies"] == []
    times = [p["time"] for p in body["history"]]
    assert times == sorted(times)
    assert {"cpu_percent", "memory_bytes", "pids", "net_rx_bytes_per_s"} <= set(body["history"][0])
    assert 1 <= len(metrics(http, wid, since="2s")["history"]) <= 3
    assert metrics(http, wid, since="2000-01-01T00:00:00Z")["history"][0]["time"] == times[0]
    bad = http.get(f"/v1/workspaces/{wid}/metrics", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since=15m" in bad.json()["hint"]
    assert http.get("/v1/workspaces/nope/metrics").status_code == 404


def test_cpu_far_above_baseline_is_an_anomaly(
    http: httpx.Client, make: Callable[..., dict]
) -> None:
    wid = make()["id"]
    # Let the baseline learn an idle workspace (12 samples of warm-up at 1 s), then burn.
    wait_for(lambda: len(metrics(http, wid)["history"]) >= 14, 30, "the baseline warm-up")
    http.post(f"/v1/workspaces/{wid}/exec",
              json={"command": "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 & "
                               "echo $! > /tmp/burn.pid"})  # fmt: skip
    body = wait_for(lambda: (m := metrics(http, wid))["anomalies"] and m, 20, "a CPU anomaly")
    anomaly = body["anomalies"][0]
    assert anomaly["kind"] == "cpu" and anomaly["value"] >= anomaly["threshold"] >= 10
    raised = events(http, wid, "anomaly")
    assert len(raised) == 1 and raised[0]["data"]["kind"] == "cpu"
    assert "CPU at" in raised[0]["message"]
    summary = http.get("/v1/metrics/summary").json()
    row = next(w for w in summary["workspaces"] if w["id"] == wid)
    assert row["anomalies"][0]["kind"] == "cpu" and summary["anomalies"] >= 1
    text = http.get("/metrics").text
    assert re.search(rf'^corral_workspace_anomaly\{{workspace_id="{wid}".*kind="cpu"\}} 1$', text,
                     re.M)  # fmt: skip
    # Stopping the burn clears it (after the same number of quiet samples).
    http.post(f"/v1/workspaces/{wid}/exec", json={"command": "kill $(cat /tmp/burn.pid)"})
    wait_for(lambda: not metrics(http, wid)["anomalies"], 20, "the anomaly to clear")
    assert events(http, wid, "anomaly_cleared")[0]["data"]["kind"] == "cpu"


def test_memory_near_its_limit_is_an_anomaly(http: httpx.Client, make: Callable[..., dict]) -> None:
    wid = make(memory_mib=64)["id"]
    http.put(f"/v1/workspaces/{wid}/files", params={"path": "/srv/fill.py"}, content=FILL_MEMORY)
    http.post(f"/v1/workspaces/{wid}/exec",
              json={"command": "nohup python3 /srv/fill.py >/tmp/fill.log 2>&1 &"})  # fmt: skip
    body = wait_for(lambda: (m := metrics(http, wid))["anomalies"] and m, 30, "a memory anomaly")
    anomaly = body["anomalies"][0]
    assert anomaly["kind"] == "memory" and "of its 64 MiB limit" in anomaly["message"]
    assert body["current"]["memory_percent"] >= 90
    assert events(http, wid, "anomaly")[0]["data"]["kind"] == "memory"


def test_filling_the_writable_layer_is_an_anomaly(
    http: httpx.Client, make: Callable[..., dict]
) -> None:
    """That layer has no size cap here; filling it is seen and flagged (the test daemon flags
    from 200 MiB), and cleared once the space is freed."""
    wid = make()["id"]
    fill = "dd if=/dev/zero of=/var/big bs=1M count=260 status=none"
    http.post(f"/v1/workspaces/{wid}/exec", json={"command": fill})
    body = wait_for(lambda: (m := metrics(http, wid))["anomalies"] and m, 30, "a disk anomaly")
    anomaly = body["anomalies"][0]
    assert anomaly["kind"] == "disk" and anomaly["value"] >= anomaly["threshold"] == 200 * MIB
    assert "written to its writable layer" in anomaly["message"]
    assert body["current"]["rootfs_used_bytes"] >= 260 * MIB
    assert events(http, wid, "anomaly")[0]["data"]["kind"] == "disk"
    http.post(f"/v1/workspaces/{wid}/exec", json={"command": "rm /var/big"})
    wait_for(lambda: not metrics(http, wid)["anomalies"], 30, "the anomaly to clear")
    assert events(http, wid, "anomaly_cleared")[0]["data"]["kind"] == "disk"


def test_oom_kill_is_counted_and_reported(http: httpx.Client, make: Callable[..., dict]) -> None:
    wid = make(memory_mib=32)["id"]
    wait_for(lambda: metrics(http, wid)["current"], 10, "a first sample")
    hog = ["python3", "-c", "b = b'x' * (256 << 20)"]
    out = http.post(f"/v1/workspaces/{wid}/exec", json={"command": hog}).json()
    assert out["exit_code"] != 0
    wait_for(lambda: metrics(http, wid)["current"]["oom_kills"] >= 1, 10, "the OOM kill count")
    reported = wait_for(lambda: events(http, wid, "oom_kill"), 10, "an oom_kill event")
    assert reported[0]["data"]["killed"] >= 1 and "out of memory (32 MiB limit)" in \
        reported[0]["message"]  # fmt: skip


def test_paused_and_stopped(http: httpx.Client, make: Callable[..., dict]) -> None:
    wid = make()["id"]
    wait_for(lambda: metrics(http, wid)["current"], 10, "a first sample")
    http.post(f"/v1/workspaces/{wid}/pause")
    time.sleep(2.5)
    paused = metrics(http, wid)
    assert paused["state"] == "paused" and paused["current"]["cpu_percent"] == 0
    http.post(f"/v1/workspaces/{wid}/resume")
    http.post(f"/v1/workspaces/{wid}/stop")
    time.sleep(1.5)
    stopped = metrics(http, wid)
    assert stopped["state"] == "stopped" and stopped["current"] is None
    assert stopped["history"], "a stopped workspace keeps its history"


def test_summary_and_prometheus(server: Daemon, http: httpx.Client,
                                make: Callable[..., dict]) -> None:  # fmt: skip
    wid = make(memory_mib=256)["id"]
    wait_for(lambda: len(metrics(http, wid)["history"]) >= 2, 10, "two samples")
    summary = http.get("/v1/metrics/summary", params={"points": 5}).json()
    assert summary["host"]["cpus"] >= 1 and summary["host"]["memory_bytes"] > 0
    assert summary["sampler"]["interval_seconds"] == 1 and summary["sampler"]["workspaces"] >= 1
    assert summary["workspaces_by_state"]["running"] >= 1
    assert summary["memory_limit_bytes"] >= 256 * MIB
    row = next(w for w in summary["workspaces"] if w["id"] == wid)
    assert 2 <= len(row["cpu_history"]) <= 5 and len(row["memory_history"]) == len(
        row["cpu_history"]
    )
    assert row["current"]["memory_limit_bytes"] == 256 * MIB

    assert httpx.get(f"{server.url}/metrics").status_code == 401
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert f'corral_workspace_info{{workspace_id="{wid}"' in text
    assert re.search(rf'^corral_workspace_memory_limit_bytes\{{workspace_id="{wid}".*\}} '
                     rf"{256 * MIB}$", text, re.M)  # fmt: skip
    assert "# TYPE corral_workspace_cpu_seconds_total counter" in text
    assert re.search(r"^corral_metrics_tick_seconds [0-9.e-]+$", text, re.M)


def test_sdk_and_stats_cli(server: Daemon, make: Callable[..., dict]) -> None:
    ws = make(memory_mib=128)
    with Client(url=server.url, api_key=server.api_key) as client:
        handle = client.workspaces.get(ws["id"])
        wait_for(lambda: len(handle.metrics().history) >= 2, 10, "two samples")
        result = handle.metrics(since=timedelta(seconds=30))
        assert result.current is not None and result.current.memory_limit_bytes == 128 * MIB
        assert client.metrics_summary(points=3).sampler.interval_seconds == 1

    async def use_async() -> None:
        async with AsyncClient(url=server.url, api_key=server.api_key) as client:
            handle = await client.workspaces.get(ws["id"])
            assert (await handle.metrics(since="1m")).workspace_id == ws["id"]
            summary = await client.metrics_summary()
            assert ws["id"] in [w.id for w in summary.workspaces]

    asyncio.run(use_async())

    env = {"CORRAL_URL": server.url, "CORRAL_API_KEY": server.api_key}
    table = CliRunner().invoke(app, ["stats", "--no-stream", ws["name"]], env=env)
    assert table.exit_code == 0, table.output
    header, row = table.output.splitlines()[:2]
    assert header.split()[:4] == ["ID", "NAME", "STATE", "CPU"]
    assert ws["name"] in row and "/ 128MiB" in row
    as_json = CliRunner().invoke(app, ["stats", "--json", ws["id"]], env=env)
    assert json.loads(as_json.output)[0]["current"]["memory_limit_bytes"] == 128 * MIB
    missing = CliRunner().invoke(app, ["stats", "--no-stream", "no-such-ws"], env=env)
    assert missing.exit_code == 1 and "no workspace 'no-such-ws'" in missing.output


def test_dashboard_is_served(server: Daemon) -> None:
    page = httpx.get(f"{server.url}/")
    assert page.status_code == 200 and "<title>corral</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = httpx.get(f"{server.url}/dashboard/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert httpx.get(f"{server.url}/dashboard/nope.js").status_code == 404
