"""The `corral` CLI against a real `corral serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from tests.conftest import Daemon
from typer.testing import CliRunner, Result

from corral import Client, Workspace
from corral.cli.execute import TIMED_OUT
from corral.cli.main import app

pytestmark = pytest.mark.integration


class Corral(Protocol):
    def __call__(self, *args: str, input: str | None = None) -> Result: ...


@pytest.fixture
def corral(server: Daemon) -> Corral:
    """Run `corral ARGS...` in-process against the test daemon."""
    runner = CliRunner()
    env = {"CORRAL_URL": server.url, "CORRAL_API_KEY": server.api_key}

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), env=env, input=input)

    return run


@pytest.fixture
def ws(client: Client, unique_name: str) -> Iterator[Workspace]:
    with client.workspaces.create(unique_name, labels={"suite": "cli"}) as workspace:
        yield workspace


def test_create_ls_info_rm(corral: Corral, client: Client, unique_name: str) -> None:
    created = corral("create", unique_name, "--cpu", "0.5", "--memory", "128", "--ttl", "300",
                     "--env", "A=1", "--label", "suite=cli", "--", "sleep", "300")  # fmt: skip
    assert created.exit_code == 0, created.output
    wid = created.stdout.strip()
    ws = client.workspaces.get(wid)
    assert (ws.name, ws.cpu, ws.memory_mib, ws.env_names) == (unique_name, 0.5, 128, ["A"])
    assert ws.command == ["sleep", "300"]

    table = corral("ls", "--label", "suite=cli")
    row = next(line for line in table.stdout.splitlines() if unique_name in line)
    assert row.split()[:6] == [wid[:12], unique_name, "running", "host", "0.5", "128Mi"]
    listed = json.loads(corral("ls", "--json", "--state", "running").stdout)
    assert wid in [w["id"] for w in listed]
    assert wid in corral("ls", "-q").stdout.split()

    details = corral("info", unique_name)
    assert "sleep 300" in details.stdout and "suite=cli" in details.stdout
    assert json.loads(corral("info", wid, "--json").stdout)["name"] == unique_name
    duplicate = corral("create", unique_name, "--json")
    assert duplicate.exit_code == 1 and "already exists" in duplicate.stderr

    removed = corral("rm", unique_name)
    assert removed.exit_code == 0 and removed.stdout.strip() == unique_name
    assert client.workspaces.get(wid).state == "destroyed"


def test_daemon_info(corral: Corral, server: Daemon) -> None:
    assert server.url in corral("info").stdout
    assert json.loads(corral("info", "--json").stdout)["state_dir"] == str(server.state_dir)


def test_lifecycle_verbs_on_several_workspaces(
    corral: Corral, client: Client, unique_name: str
) -> None:
    names = [f"{unique_name}-a", f"{unique_name}-b"]
    for name in names:
        client.workspaces.create(name)
    try:
        for verb, state in (("pause", "paused"), ("resume", "running"), ("stop", "stopped"),
                            ("start", "running")):  # fmt: skip
            result = corral(verb, *names)
            assert result.exit_code == 0, result.output
            assert [client.workspaces.get(n).state for n in names] == [state, state]
        refused = corral("resume", names[0])
        assert refused.exit_code == 1 and refused.stderr.startswith("error: cannot resume")
        assert "hint: " in refused.stderr
    finally:
        assert corral("rm", *names).exit_code == 0


def test_rm_reports_missing_workspaces_unless_forced(corral: Corral, ws: Workspace) -> None:
    result = corral("rm", "no-such-workspace", ws.name)
    assert result.exit_code == 1
    assert result.stdout.split() == [ws.name]  # the other one was still removed
    assert result.stderr.startswith("error: ")
    forced = corral("rm", "-f", "no-such-workspace")
    assert (forced.exit_code, forced.stderr) == (0, "")


def test_exec_streams_output_and_exits_with_the_code(corral: Corral, ws: Workspace) -> None:
    result = corral("exec", ws.name, "--env", "X=1", "--cwd", "/tmp", "--",
                    "sh", "-c", "echo $X $(pwd); echo err >&2; exit 5")  # fmt: skip
    assert (result.exit_code, result.stdout, result.stderr) == (5, "1 /tmp\n", "err\n")
    shell = corral("exec", ws.name, "--", "echo a b | wc -w")
    assert (shell.exit_code, shell.stdout.strip()) == (0, "2")
    piped = corral("exec", "-i", ws.name, "--", "tr", "a-z", "A-Z", input="shout\n")
    assert piped.stdout == "SHOUT\n"
    slow = corral("exec", ws.name, "--timeout", "0.3", "--", "sleep 10")
    assert slow.exit_code == TIMED_OUT and "timed out" in slow.stderr


def test_logs(corral: Corral, client: Client, unique_name: str) -> None:
    with client.workspaces.create(unique_name, command="echo one; echo two; sleep 30") as ws:
        for _ in range(100):
            if ws.logs().count("\n") == 2:
                break
            ws.exec("sleep 0.05")
        assert corral("logs", ws.name).stdout == "one\ntwo\n"
        assert corral("logs", ws.name, "--tail", "1").stdout == "two\n"


def test_logs_follow_until_interrupted(server: Daemon, client: Client, unique_name: str) -> None:
    command = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done"
    env = {**os.environ, "CORRAL_URL": server.url, "CORRAL_API_KEY": server.api_key}
    with client.workspaces.create(unique_name, command=command):
        follow = subprocess.Popen([sys.executable, "-m", "corral.cli", "logs", "-f", unique_name],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)  # fmt: skip
        try:
            assert follow.stdout is not None
            first = follow.stdout.readline()
            later = [follow.stdout.readline() for _ in range(3)]  # more arrives while we wait
            follow.send_signal(signal.SIGINT)
            _, stderr = follow.communicate(timeout=10)
        finally:
            follow.kill()
        assert first == "tick 1\n"
        assert later == ["tick 2\n", "tick 3\n", "tick 4\n"]
        assert follow.returncode == 0 and stderr == ""


def test_cp_files_and_directories(corral: Corral, ws: Workspace, tmp_path: Path) -> None:
    src = tmp_path / "project"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "main.py").write_text("print('hi')\n")
    (src / "run.sh").write_text("#!/bin/sh\necho run\n")
    (src / "run.sh").chmod(0o755)

    assert corral("cp", str(src / "run.sh"), f"{ws.name}:/work/run.sh").exit_code == 0
    assert ws.exec("/work/run.sh").stdout == "run\n"
    assert corral("cp", str(src), f"{ws.name}:/work/").exit_code == 0  # into the directory
    assert ws.exec("python3 /work/project/pkg/main.py").stdout == "hi\n"

    out = tmp_path / "back"
    assert corral("cp", f"{ws.name}:/work/project", str(out)).exit_code == 0
    assert (out / "pkg" / "main.py").read_text() == "print('hi')\n"
    assert (out / "run.sh").stat().st_mode & 0o777 == 0o755
    assert corral("cp", f"{ws.name}:/work/run.sh", str(tmp_path)).exit_code == 0
    assert (tmp_path / "run.sh").read_text() == "#!/bin/sh\necho run\n"

    assert corral("cp", "-", f"{ws.name}:/work/stdin.txt", input="from stdin").exit_code == 0
    assert corral("cp", f"{ws.name}:/work/stdin.txt", "-").stdout == "from stdin"

    missing = corral("cp", f"{ws.name}:/work/nope", str(tmp_path))
    assert missing.exit_code == 1 and missing.stderr.startswith("error: ")


def test_the_installed_command_in_a_real_process(server: Daemon, ws: Workspace) -> None:
    """End to end through `python -m corral.cli`: exit codes and errors as a shell sees them."""
    env = {**os.environ, "CORRAL_URL": server.url, "CORRAL_API_KEY": server.api_key}
    cli = [sys.executable, "-m", "corral.cli"]
    run = subprocess.run([*cli, "exec", ws.name, "--", "sh", "-c", "echo hi; exit 9"],
                         env=env, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert (run.returncode, run.stdout) == (9, "hi\n")
    bad_key = subprocess.run([*cli, "--api-key", "crl_wrong", "ls"], env=env,
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert bad_key.returncode == 1
    assert bad_key.stderr.startswith("error: invalid or revoked API key")
    assert "Traceback" not in bad_key.stderr
