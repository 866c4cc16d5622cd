"""CLI pieces that need no server: argument parsing, rendering, exit codes, error output."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from corral.api.schemas import Workspace as WorkspaceModel
from corral.cli import render
from corral.cli.copy import Remote, parse_location
from corral.cli.execute import TIMED_OUT, exit_status
from corral.cli.main import app
from corral.cli.options import parse_env, parse_labels, to_command
from corral.client import ExecResult

NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


def workspace(**changes: object) -> WorkspaceModel:
    fields: dict[str, object] = {
        "id": "0123456789abcdef",
        "name": "agent",
        "image": "host",
        "state": "running",
        "command": ["python3", "-c", "print('[not markup]')"],
        "env_names": ["TOKEN"],
        "cpu": 0.5,
        "memory_mib": 256,
        "pids": None,
        "ttl_seconds": 60,
        "expires_at": NOW + timedelta(seconds=45),
        "restart": "never",
        "labels": {"team": "[red]a"},
        "created_at": NOW - timedelta(minutes=5),
        "updated_at": NOW,
        "restart_count": 0,
        "last_exit_code": None,
        "last_exit_at": None,
        "error": None,
        "runtime": "runc",
    }
    return WorkspaceModel.model_validate({**fields, **changes})


def rendered(table: object) -> str:
    console = Console(width=200, record=True)
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("ws:/etc/hosts", Remote("ws", "/etc/hosts")),
        ("my-ws:/", Remote("my-ws", "/")),
        ("./ws:/x", "./ws:/x"),
        ("notes.txt", "notes.txt"),
        ("ws:relative", "ws:relative"),
        ("-", "-"),
    ],
)
def test_cp_locations(arg: str, expected: Remote | str) -> None:
    assert parse_location(arg) == expected


def test_env_pairs_and_passing_through_a_local_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cret")
    assert parse_env(["A=1", "B=x=y", "MY_TOKEN"]) == {"A": "1", "B": "x=y", "MY_TOKEN": "s3cret"}
    monkeypatch.delenv("MISSING", raising=False)
    with pytest.raises(typer.BadParameter):
        parse_env(["MISSING"])


def test_labels_need_a_key_and_an_equals_sign() -> None:
    assert parse_labels(["team=a", "empty="]) == {"team": "a", "empty": ""}
    for bad in ("team", "=a"):
        with pytest.raises(typer.BadParameter):
            parse_labels([bad])


def test_one_argument_is_a_shell_line_several_are_an_argv() -> None:
    assert to_command(["echo hi | wc -c"]) == "echo hi | wc -c"
    assert to_command(["ls", "-la"]) == ["ls", "-la"]


@pytest.mark.parametrize(
    ("exit_code", "timed_out", "status"),
    [(0, False, 0), (3, False, 3), (-9, False, 137), (300, False, 255), (-9, True, TIMED_OUT)],
)
def test_exec_exit_status(exit_code: int, timed_out: bool, status: int) -> None:
    result = ExecResult(
        exit_code=exit_code, stdout="", stderr="", timed_out=timed_out, duration_ms=1
    )
    assert exit_status(result) == status


@pytest.mark.parametrize(
    ("seconds", "text"), [(-3, "0s"), (59, "59s"), (60, "1m"), (7199, "1h"), (86400 * 3, "3d")]
)
def test_durations(seconds: float, text: str) -> None:
    assert render.duration(seconds) == text


def test_the_list_table() -> None:
    text = rendered(render.workspace_table([workspace(), workspace(name="b", cpu=None,
                                            memory_mib=None, expires_at=None)], NOW))  # fmt: skip
    lines = text.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATE", "IMAGE", "CPU", "MEM", "AGE", "TTL"]
    assert lines[1].split() == ["0123456789ab", "agent", "running", "host", "0.5", "256Mi", "5m",
                                "45s"]  # fmt: skip
    assert lines[2].split()[4:] == ["-", "-", "5m", "-"]


def test_details_show_data_verbatim_never_as_markup() -> None:
    text = rendered(render.workspace_details(workspace(error="boom [bold]"), NOW))
    assert "python3 -c 'print('\"'\"'[not markup]'\"'\"')'" in text
    assert "team=[red]a" in text
    assert "boom [bold]" in text
    assert "1m (then destroy, 45s left)" in text
    assert "off (air-gapped)" in text


def test_details_show_network_storage_and_lifecycle() -> None:
    ws = workspace(ip="10.77.0.5", internet=True, egress=["10.1.2.0/24"], ports=[8080],
                   disk_mib=64, disk_path="/data", rootfs_mib=128, crash_loop=True,
                   volumes=[{"name": "shared", "path": "/shared", "readonly": True}],
                   secret_env_names=["OPENAI_API_KEY"], isolation="gvisor")  # fmt: skip
    text = rendered(render.workspace_details(ws, NOW))
    for expected in ("10.77.0.5", "on, only to 10.1.2.0/24", "8080", "64 MiB at /data",
                     "128 MiB", "shared:/shared:ro", "OPENAI_API_KEY", "runc (gvisor)",
                     "crash loop"):  # fmt: skip
        assert expected in text, expected


def test_unreachable_daemon_is_one_red_line_and_status_1() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = CliRunner().invoke(app, ["--url", url, "ls"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: cannot connect to corral at {url}",
        "hint: is `corral serve` running?",
    ]
    assert "Traceback" not in result.output


def test_cp_needs_exactly_one_remote_side() -> None:
    result = CliRunner().invoke(app, ["--url", "http://127.0.0.1:1", "cp", "a", "b"])
    assert result.exit_code == 2
    assert "exactly one of SRC and DST" in result.output
