"""The sync SDK against a real `corral serve`: workspaces, exec, files, logs, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from tests.conftest import Daemon

from corral import (
    Client,
    Conflict,
    ExecResult,
    InvalidSpec,
    NotFound,
    OutputChunk,
    Unauthorized,
    Workspace,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def ws(client: Client, unique_name: str) -> Iterator[Workspace]:
    with client.workspaces.create(unique_name, labels={"suite": "sdk"}) as workspace:
        yield workspace


def test_health_and_info(client: Client) -> None:
    assert client.health() == "ok"
    info = client.info()
    assert info.version and info.runtime


def test_create_get_list_and_refresh(client: Client, ws: Workspace) -> None:
    assert ws.state == "running" and ws.labels == {"suite": "sdk"}
    assert client.workspaces.get(ws.name).id == ws.id
    assert client.workspaces.get(ws.id).name == ws.name
    assert ws.id in [w.id for w in client.workspaces.list(labels={"suite": "sdk"})]
    assert ws.id in [w.id for w in client.workspaces.list(state="running")]
    assert ws.id not in [w.id for w in client.workspaces.list(labels={"suite": "other"})]
    client.workspaces.get(ws.id).pause()
    assert ws.state == "running"  # a stale handle until refreshed
    assert ws.refresh() is ws and ws.state == "paused"


def test_lifecycle_updates_the_handle_in_place(ws: Workspace) -> None:
    assert ws.pause().state == "paused"
    with pytest.raises(Conflict) as caught:
        ws.pause()
    assert caught.value.hint
    assert ws.resume().state == "running"
    assert ws.stop().state == "stopped"
    assert ws.start().state == "running"
    assert ws.destroy().state == "destroyed"


def test_exec(ws: Workspace) -> None:
    result = ws.exec(["python3", "-c", "import os,sys; print(sys.stdin.read(), os.getcwd(), "
                     "os.environ['X'])"], env={"X": "42"}, cwd="/tmp", stdin="in")  # fmt: skip
    assert isinstance(result, ExecResult) and result.ok
    assert result.stdout == "in /tmp 42\n"
    failed = ws.exec("echo oops >&2; exit 3")
    assert (failed.ok, failed.exit_code, failed.stderr) == (False, 3, "oops\n")
    slow = ws.exec("sleep 10", timeout=0.5)
    assert slow.timed_out and not slow.ok


def test_exec_stream_yields_output_then_the_result(ws: Workspace) -> None:
    *events, result = ws.exec_stream("echo a; sleep 0.2; echo b >&2; echo c; exit 4")
    chunks = [event for event in events if isinstance(event, OutputChunk)]
    assert len(chunks) == len(events)
    assert "".join(text for stream, text in chunks if stream == "stdout") == "a\nc\n"
    assert ("stderr", "b\n") in chunks
    assert isinstance(result, ExecResult)
    assert (result.exit_code, result.stdout, result.stderr) == (4, "a\nc\n", "b\n")


def test_files(ws: Workspace) -> None:
    entry = ws.files.write("/data/deep/hello.txt", "héllo", mode=0o600)
    assert entry.size == len("héllo".encode()) and entry.mode & 0o777 == 0o600
    assert ws.files.read("/data/deep/hello.txt") == "héllo".encode()
    assert ws.files.read_text("/data/deep/hello.txt") == "héllo"
    ws.files.write("/data/blob", bytes(range(256)))
    assert ws.files.read("/data/blob") == bytes(range(256))
    assert ws.exec("cat /data/deep/hello.txt").stdout == "héllo"
    assert ws.files.mkdir("/data/empty").is_dir
    assert sorted(e.name for e in ws.files.list("/data")) == ["blob", "deep", "empty"]
    assert ws.files.stat("/data/deep").is_dir
    ws.files.remove("/data/blob")
    with pytest.raises(NotFound):
        ws.files.stat("/data/blob")
    ws.files.remove("/data/deep", recursive=True)
    assert [e.name for e in ws.files.list("/data")] == ["empty"]


def test_logs_of_the_main_command(client: Client, unique_name: str) -> None:
    command = "for i in 1 2 3; do echo line$i; done; sleep 30"
    with client.workspaces.create(unique_name, command=command) as ws:
        deadline = time.monotonic() + 5
        while ws.logs().count("\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ws.logs() == "line1\nline2\nline3\n"
        assert ws.logs(tail=1) == "line3\n"
        followed = ws.follow_logs(tail=2)
        assert next(followed) == "line2\nline3\n"
        followed.close()


def test_sandbox_is_destroyed_when_the_block_ends(client: Client) -> None:
    with client.sandbox(ttl=60, labels={"suite": "sdk"}) as sb:
        assert sb.name.startswith("sandbox-") and sb.ttl_seconds == 60
        assert sb.exec("python3 -c 'print(6 * 7)'").stdout == "42\n"
    assert sb.state == "destroyed"
    assert client.workspaces.get(sb.id).state == "destroyed"


def test_sandbox_is_destroyed_on_error_too(client: Client) -> None:
    with pytest.raises(RuntimeError), client.sandbox(ttl=60) as sb:
        raise RuntimeError("agent crashed")
    assert client.workspaces.get(sb.id).state == "destroyed"


def test_destroying_inside_the_block_is_fine(client: Client) -> None:
    with client.sandbox(ttl=60) as sb:
        sb.destroy()
    assert sb.state == "destroyed"


def test_errors_map_to_classes(client: Client, ws: Workspace, server: Daemon) -> None:
    with pytest.raises(NotFound):
        client.workspaces.get("no-such-workspace")
    with pytest.raises(Conflict):
        client.workspaces.create(ws.name)
    with pytest.raises(InvalidSpec) as caught:
        client.workspaces.create("Bad Name!")
    assert "name" in caught.value.message
    with pytest.raises(InvalidSpec):
        ws.exec("true", cwd="relative")
    with Client(server.url, "crl_wrong") as stranger, pytest.raises(Unauthorized):
        stranger.workspaces.list()
