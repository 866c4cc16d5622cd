"""exec: exit codes, stdout/stderr, stdin, env, cwd, timeouts, streaming."""

from __future__ import annotations

import json

import httpx
import pytest

pytestmark = pytest.mark.integration


def run(http: httpx.Client, wid: str, **body: object) -> dict:
    response = http.post(f"/v1/workspaces/{wid}/exec", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_exit_codes_and_streams(http: httpx.Client, workspace: dict) -> None:
    result = run(http, workspace["id"], command="echo out; echo err >&2; exit 7")
    assert result == {**result, "exit_code": 7, "stdout": "out\n", "stderr": "err\n"}
    assert run(http, workspace["id"], command=["false"])["exit_code"] == 1
    missing = run(http, workspace["id"], command=["no-such-binary"])
    assert missing["exit_code"] != 0


def test_argv_is_not_shell_interpreted(http: httpx.Client, workspace: dict) -> None:
    result = run(http, workspace["id"], command=["echo", "$HOME; rm -rf /"])
    assert result["stdout"] == "$HOME; rm -rf /\n"


def test_stdin_env_cwd(http: httpx.Client, workspace: dict) -> None:
    result = run(
        http,
        workspace["id"],
        command=[
            "python3",
            "-c",
            "import os,sys; print(sys.stdin.read().upper(), os.getcwd(), os.environ['X'])",
        ],
        stdin="hello",
        env={"X": "42"},
        cwd="/tmp",
    )
    assert result["stdout"] == "HELLO /tmp 42\n"


def test_timeout_kills(http: httpx.Client, workspace: dict) -> None:
    result = run(http, workspace["id"], command="sleep 30", timeout=0.5)
    assert result["timed_out"] is True and result["exit_code"] == 137
    assert result["duration_ms"] < 5000
    left = run(http, workspace["id"], command="ps -eo comm")["stdout"].split()
    assert "sleep" not in left


def test_background_child_does_not_hang_exec(http: httpx.Client, workspace: dict) -> None:
    result = run(http, workspace["id"], command="sleep 60 & echo done", timeout=10)
    assert result["stdout"] == "done\n" and result["duration_ms"] < 3000


def test_large_output(http: httpx.Client, workspace: dict) -> None:
    result = run(http, workspace["id"], command="head -c 3000000 /dev/zero | tr '\\0' a")
    assert len(result["stdout"]) == 3_000_000


def test_stream_delivers_output_as_it_comes(http: httpx.Client, workspace: dict) -> None:
    events: list[tuple[str, dict]] = []
    body = {"command": "for i in 1 2 3; do echo line$i; sleep 0.2; done; echo bad >&2; exit 2"}
    with http.stream("POST", f"/v1/workspaces/{workspace['id']}/exec/stream", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name:
                events.append((name, json.loads(line[6:])))
    stdout = "".join(data["data"] for kind, data in events if kind == "stdout")
    assert stdout == "line1\nline2\nline3\n"
    assert sum(1 for kind, _ in events if kind == "stdout") >= 2, "output came in one piece"
    assert ("stderr", {"data": "bad\n"}) in events
    assert events[-1][0] == "exit" and events[-1][1]["exit_code"] == 2


def test_stream_on_unknown_workspace_is_404(http: httpx.Client) -> None:
    response = http.post("/v1/workspaces/nope/exec/stream", json={"command": "true"})
    assert response.status_code == 404
