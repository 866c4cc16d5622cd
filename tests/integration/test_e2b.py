"""The official e2b SDK from PyPI, unchanged, against a real corral daemon.

Only environment variables point it at corral (E2B_API_URL, E2B_SANDBOX_URL, E2B_API_KEY),
as the README tells users to do.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
from e2b import (
    AsyncSandbox,
    AuthenticationException,
    CommandExitException,
    FileNotFoundException,
    FileType,
    Sandbox,
    SandboxNotFoundException,
    SandboxNotRunningException,
    SandboxQuery,
    SandboxState,
    TimeoutException,
)
from tests.conftest import Daemon

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def e2b_env(server: Daemon) -> Iterator[None]:
    """The SDK's configuration, as the README gives it."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("E2B_API_URL", f"{server.url}/e2b")
        env.setenv("E2B_SANDBOX_URL", f"{server.url}/e2b/envd")
        env.setenv("E2B_API_KEY", server.api_key)
        yield


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """One sandbox shared by the command and file tests."""
    sb = Sandbox.create(timeout=300, envs={"GREETING": "hello from env"})
    yield sb
    sb.kill()


# -- lifecycle ------------------------------------------------------------------------------


def test_create_with_template_timeout_metadata_envs() -> None:
    with Sandbox.create(
        "base", timeout=120, metadata={"suite": "e2b", "case": "create"}, envs={"X": "42"}
    ) as sb:
        info = sb.get_info()
        assert info.sandbox_id == sb.sandbox_id and info.template_id == "base"
        assert info.metadata == {"suite": "e2b", "case": "create"}
        assert info.state == SandboxState.RUNNING
        assert timedelta(seconds=115) < info.end_at - info.started_at <= timedelta(seconds=121)
        assert sb.commands.run("echo $X").stdout == "42\n"
        assert sb.is_running()
    assert not sb.is_running()


def test_templates_are_corral_templates_and_internet_is_on(server: Daemon) -> None:
    with Sandbox.create() as source, server.http() as http:
        source.files.write("/opt/app/config", "baked in")
        made = http.post(f"/v1/workspaces/{source.sandbox_id}/snapshot", json={"name": "e2b-tpl"})
        assert made.status_code == 201, made.text
        with Sandbox.create("e2b-tpl") as sb:
            assert sb.get_info().template_id == "e2b-tpl"
            assert sb.files.read("/opt/app/config") == "baked in"
            assert http.get(f"/v1/workspaces/{sb.sandbox_id}").json()["internet"] is True
        with Sandbox.create(allow_internet_access=False) as sb:
            assert http.get(f"/v1/workspaces/{sb.sandbox_id}").json()["internet"] is False
        http.delete("/v1/templates/e2b-tpl")


def test_list_connect_kill() -> None:
    sb = Sandbox.create(metadata={"case": "list-connect-kill"})
    query = SandboxQuery(metadata={"case": "list-connect-kill"})
    assert [s.sandbox_id for s in Sandbox.list(query=query).next_items()] == [sb.sandbox_id]
    assert Sandbox.list(query=SandboxQuery(metadata={"case": "no such"})).next_items() == []

    same = Sandbox.connect(sb.sandbox_id)
    assert same.commands.run("echo connected").stdout == "connected\n"

    assert Sandbox.kill(sb.sandbox_id) is True
    assert sb.kill() is False  # already gone
    assert Sandbox.list(query=query).next_items() == []
    with pytest.raises(SandboxNotFoundException):
        sb.get_info()
    with pytest.raises(SandboxNotRunningException):
        same.commands.run("true")  # envd answers as E2B does for a killed sandbox


def test_set_timeout_moves_the_end() -> None:
    with Sandbox.create(timeout=60) as sb:
        sb.set_timeout(900)
        info = sb.get_info()
        assert timedelta(seconds=890) < info.end_at - datetime.now(info.end_at.tzinfo)


def test_metrics(sandbox: Sandbox) -> None:
    metrics = sandbox.get_metrics()
    assert metrics, "a running sandbox has at least its current sample"
    last = metrics[-1]
    assert last.cpu_count >= 1 and last.mem_total > 0 and last.disk_total > 0
    assert 0 <= last.cpu_used_pct <= 100


def test_pause_and_resume_by_connect() -> None:
    with Sandbox.create() as sb:
        sb.commands.run("echo kept > /tmp/state")
        assert sb.pause() is True
        assert sb.get_info().state == SandboxState.PAUSED
        assert sb.pause() is False  # already paused
        resumed = Sandbox.connect(sb.sandbox_id, timeout=120)
        assert sb.get_info().state == SandboxState.RUNNING
        assert resumed.commands.run("cat /tmp/state").stdout == "kept\n"


def test_timeout_can_pause_instead_of_kill() -> None:
    with Sandbox.create(timeout=1, lifecycle={"on_timeout": "pause"}) as sb:
        deadline = time.monotonic() + 10
        while sb.get_info().state != SandboxState.PAUSED:
            assert time.monotonic() < deadline, "the timeout did not pause the sandbox"
            time.sleep(0.1)
        Sandbox.connect(sb.sandbox_id, timeout=60)
        info = sb.get_info()
        assert info.state == SandboxState.RUNNING
        assert info.end_at - datetime.now(info.end_at.tzinfo) > timedelta(seconds=50)


def test_unknown_sandbox_and_bad_key() -> None:
    with pytest.raises(SandboxNotFoundException):
        Sandbox.connect("nonexistent0")
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info("nonexistent0")
    assert Sandbox.kill("nonexistent0") is False
    with pytest.raises(AuthenticationException):
        Sandbox.create(api_key="crl_not-a-key")


def test_endpoints_older_sdks_use(server: Daemon) -> None:
    """v1 list and resume, and E2B's error body, over plain HTTP with an X-API-Key."""
    with (
        Sandbox.create(metadata={"case": "legacy"}) as sb,
        httpx.Client(base_url=f"{server.url}/e2b", headers={"X-API-Key": server.api_key}) as http,
    ):
        listed = http.get("/sandboxes", params={"metadata": "case=legacy"}).json()
        assert [s["sandboxID"] for s in listed] == [sb.sandbox_id]
        assert http.post(f"/sandboxes/{sb.sandbox_id}/pause").status_code == 204
        resumed = http.post(f"/sandboxes/{sb.sandbox_id}/resume", json={"timeout": 60})
        assert resumed.status_code == 201 and resumed.json()["envdAccessToken"]
        assert http.post(f"/sandboxes/{sb.sandbox_id}/resume", json={}).status_code == 409
        bad = http.post("/v2/sandboxes", json={"timeout": -1})
        assert bad.status_code == 400 and bad.json()["code"] == 400 and bad.json()["message"]
        assert httpx.get(f"{server.url}/e2b/sandboxes").status_code == 401


# -- commands -------------------------------------------------------------------------------


def test_run_foreground_envs_cwd(sandbox: Sandbox) -> None:
    result = sandbox.commands.run("echo $GREETING; echo $LOCAL; pwd; echo oops >&2",
                                  envs={"LOCAL": "local"}, cwd="/tmp")  # fmt: skip
    assert result.exit_code == 0 and result.error is None
    assert result.stdout == "hello from env\nlocal\n/tmp\n"
    assert result.stderr == "oops\n"
    assert sandbox.commands.run("pwd").stdout == "/root\n"


def test_non_zero_exit_raises(sandbox: Sandbox) -> None:
    with pytest.raises(CommandExitException) as err:
        sandbox.commands.run("echo partial; echo broken >&2; exit 3")
    assert err.value.exit_code == 3
    assert err.value.stdout == "partial\n" and err.value.stderr == "broken\n"


def test_output_is_streamed_as_it_comes(sandbox: Sandbox) -> None:
    seen: list[tuple[float, str]] = []
    errors: list[str] = []
    sandbox.commands.run(
        "for i in 1 2 3; do echo line$i; sleep 0.2; done; echo done >&2",
        on_stdout=lambda text: seen.append((time.monotonic(), text)),
        on_stderr=errors.append,
    )
    assert "".join(text for _, text in seen) == "line1\nline2\nline3\n"
    assert len(seen) >= 2 and seen[-1][0] - seen[0][0] > 0.3, "output came in one piece"
    assert errors == ["done\n"]


def test_a_command_that_cannot_start_is_an_error_not_an_exit(sandbox: Sandbox) -> None:
    with pytest.raises(Exception) as err:  # noqa: PT011 (the SDK's class varies by version)
        sandbox.commands.run("pwd", cwd="/no/such/dir")
    assert not isinstance(err.value, CommandExitException)
    assert "/no/such/dir" in str(err.value) or "chdir" in str(err.value), str(err.value)
    assert sandbox.commands.run("pwd").stdout == "/root\n"  # and the sandbox is fine


def test_timeout_stops_the_command(sandbox: Sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        sandbox.commands.run("sleep 30", timeout=1)
    assert time.monotonic() - started < 5
    time.sleep(0.3)
    assert "sleep 30" not in sandbox.commands.run("ps -eo args").stdout


def test_background_list_connect_wait(sandbox: Sandbox) -> None:
    handle = sandbox.commands.run("sleep 0.5; echo finished", background=True)
    listed = {p.pid: p for p in sandbox.commands.list()}
    process = listed[handle.pid]
    assert process.cmd == "/bin/bash" and "sleep 0.5; echo finished" in process.args
    # The pid is the sandbox's own.
    assert str(handle.pid) in sandbox.commands.run("ps -eo pid").stdout.split()
    follower = sandbox.commands.connect(handle.pid)
    assert handle.wait().stdout == "finished\n"
    assert follower.wait().stdout == "finished\n"
    assert handle.pid not in {p.pid for p in sandbox.commands.list()}


def test_kill_a_command(sandbox: Sandbox) -> None:
    handle = sandbox.commands.run("sleep 30", background=True)
    assert sandbox.commands.kill(handle.pid) is True
    with pytest.raises(CommandExitException) as err:
        handle.wait()
    assert err.value.exit_code == -1 and err.value.error == "signal: killed"
    assert sandbox.commands.kill(handle.pid) is False  # gone


def test_stdin(sandbox: Sandbox) -> None:
    handle = sandbox.commands.run("tr a-z A-Z", background=True, stdin=True)
    sandbox.commands.send_stdin(handle.pid, "hello ")
    handle.send_stdin(b"world\n")
    sandbox.commands.close_stdin(handle.pid)
    assert handle.wait().stdout == "HELLO WORLD\n"


# -- files ----------------------------------------------------------------------------------


def test_write_read_exists_info(sandbox: Sandbox) -> None:
    info = sandbox.files.write("/work/notes/a.txt", "hello")
    assert (info.path, info.name, info.type) == ("/work/notes/a.txt", "a.txt", FileType.FILE)
    assert sandbox.files.read("/work/notes/a.txt") == "hello"
    sandbox.files.write("/work/bin.dat", bytes(range(256)))
    assert sandbox.files.read("/work/bin.dat", format="bytes") == bytearray(range(256))
    assert sandbox.files.exists("/work/notes/a.txt")
    assert not sandbox.files.exists("/work/notes/missing.txt")
    entry = sandbox.files.get_info("/work/notes/a.txt")
    assert entry.type == FileType.FILE and entry.size == 5 and entry.owner == "root"
    assert sandbox.files.get_info("/work/notes").type == FileType.DIR
    # Streamed and gzip-compressed uploads go as one octet-stream body.
    sandbox.files.write("/work/stream.bin", io.BytesIO(b"streamed" * 1000))
    sandbox.files.write("/work/zipped.txt", "compressed " * 100, gzip=True)
    assert sandbox.files.read("/work/stream.bin", format="bytes") == b"streamed" * 1000
    assert sandbox.files.read("/work/zipped.txt", gzip=True) == "compressed " * 100
    # Relative paths are in the home directory, as envd resolves them.
    sandbox.files.write("relative.txt", "rel")
    assert sandbox.commands.run("cat /root/relative.txt").stdout == "rel"


def test_write_several_files_at_once(sandbox: Sandbox) -> None:
    written = sandbox.files.write_files(
        [{"path": f"/multi/f{i}.txt", "data": f"content {i}"} for i in range(3)]
    )
    assert [w.path for w in written] == [f"/multi/f{i}.txt" for i in range(3)]
    assert sandbox.commands.run("cat /multi/f0.txt /multi/f2.txt").stdout == "content 0content 2"


def test_list_make_dir_rename_remove(sandbox: Sandbox) -> None:
    assert sandbox.files.make_dir("/tree/sub") is True
    assert sandbox.files.make_dir("/tree/sub") is False  # already there
    sandbox.files.write("/tree/sub/deep.txt", "x")
    sandbox.files.write("/tree/top.txt", "y")
    assert [(e.name, e.type) for e in sandbox.files.list("/tree")] == [
        ("sub", FileType.DIR), ("top.txt", FileType.FILE)]  # fmt: skip
    assert "/tree/sub/deep.txt" in [e.path for e in sandbox.files.list("/tree", depth=2)]

    moved = sandbox.files.rename("/tree/top.txt", "/tree/renamed/top.txt")
    assert moved.path == "/tree/renamed/top.txt" and moved.type == FileType.FILE
    assert not sandbox.files.exists("/tree/top.txt")

    sandbox.files.remove("/tree")
    assert not sandbox.files.exists("/tree")
    sandbox.files.remove("/tree")  # removing what is gone is fine, as on E2B


def test_watch_dir(sandbox: Sandbox) -> None:
    sandbox.files.make_dir("/watched/sub")
    sandbox.files.write("/watched/old.txt", "old")
    handle = sandbox.files.watch_dir("/watched", recursive=True)
    sandbox.files.write("/watched/new.txt", "new")
    sandbox.files.write("/watched/old.txt", "changed")
    sandbox.files.write("/watched/sub/deep.txt", "deep")
    seen = {(e.name, e.type.name) for e in handle.get_new_events()}
    assert seen == {("new.txt", "CREATE"), ("old.txt", "WRITE"), ("sub/deep.txt", "CREATE")}
    sandbox.files.remove("/watched/new.txt")
    assert [(e.name, e.type.name) for e in handle.get_new_events()] == [("new.txt", "REMOVE")]
    handle.stop()


def test_file_errors(sandbox: Sandbox) -> None:
    with pytest.raises(FileNotFoundException):
        sandbox.files.read("/no/such/file")
    with pytest.raises(FileNotFoundException):
        sandbox.files.list("/no/such/dir")
    with pytest.raises(FileNotFoundException):
        sandbox.files.get_info("/no/such/file")


# -- async SDK ------------------------------------------------------------------------------


def test_async_sandbox() -> None:
    async def main() -> None:
        sb = await AsyncSandbox.create(metadata={"case": "async"})
        try:
            chunks: list[str] = []
            result = await sb.commands.run("echo async; echo e >&2", on_stdout=chunks.append)
            assert result.stdout == "async\n" and chunks == ["async\n"]
            await sb.files.write("/tmp/async.txt", "from asyncio")
            assert await sb.files.read("/tmp/async.txt") == "from asyncio"
            events: list[tuple[str, str]] = []
            watch = await sb.files.watch_dir(
                "/tmp", on_event=lambda e: events.append((e.name, e.type.name)), timeout=10
            )
            await sb.files.write("/tmp/watched.txt", "x")
            for _ in range(50):
                if ("watched.txt", "CREATE") in events:
                    break
                await asyncio.sleep(0.1)
            assert ("watched.txt", "CREATE") in events
            await watch.stop()
            handle = await sb.commands.run("sleep 30", background=True)
            assert await sb.commands.kill(handle.pid) is True
            assert (await sb.get_info()).metadata == {"case": "async"}
        finally:
            assert await sb.kill() is True

    asyncio.run(main())
