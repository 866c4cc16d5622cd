"""The request/response layer of the SDK, without a server: what goes on the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from corral.api import schemas
from corral.client import calls
from corral.client.connection import Connection
from corral.client.models import ExecResult, FileEntry

CONNECTION = Connection(url="http://corral.test:7777", api_key="crl_secret", timeout=7.0)
NOW = datetime(2025, 1, 1, tzinfo=UTC).isoformat()
WORKSPACE = {
    "id": "ws_1",
    "name": "agent",
    "image": "host",
    "state": "running",
    "command": ["sleep", "inf"],
    "env_names": ["TOKEN"],
    "cpu": 0.5,
    "memory_mib": 256,
    "pids": None,
    "ttl_seconds": None,
    "expires_at": None,
    "restart": "never",
    "labels": {"team": "a"},
    "created_at": NOW,
    "updated_at": NOW,
    "restart_count": 0,
    "last_exit_code": None,
    "last_exit_at": None,
    "error": None,
    "runtime": "runc",
}
ENTRY = {"name": "a.txt", "path": "/tmp/a.txt", "type": "file", "size": 3, "mode": 420,
         "mtime": NOW}  # fmt: skip


def wire(request: calls.Request) -> httpx.Request:
    return request.to_httpx(CONNECTION)


def respond(payload: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=payload)


def test_create_sends_only_what_was_set_and_matches_the_schema() -> None:
    call = calls.create_workspace(
        "agent", {"image": "host", "cpu": 0.5, "env": None, "labels": {"team": "a"}}
    )
    request = wire(call.request)
    body = json.loads(request.content)
    assert (request.method, request.url.path) == ("POST", "/v1/workspaces")
    assert body == {"name": "agent", "image": "host", "cpu": 0.5, "labels": {"team": "a"}}
    schemas.WorkspaceCreate.model_validate(body)  # the server accepts it


def test_list_filters_repeat_the_label_parameter() -> None:
    request = wire(calls.list_workspaces("running", {"team": "a", "tier": "x"}).request)
    assert request.url.params.multi_items() == [
        ("state", "running"),
        ("label", "team=a"),
        ("label", "tier=x"),
    ]
    assert wire(calls.list_workspaces().request).url.query == b""


def test_list_parses_into_workspace_records() -> None:
    records = calls.list_workspaces().parse(respond({"workspaces": [WORKSPACE]}))
    assert [r.name for r in records] == ["agent"]
    assert records[0].created_at == datetime(2025, 1, 1, tzinfo=UTC)


def test_refs_are_escaped_into_one_path_segment() -> None:
    request = wire(calls.get_workspace("a/b c").request)
    assert request.url.raw_path == b"/v1/workspaces/a%2Fb%20c"


@pytest.mark.parametrize("action", ["start", "stop", "pause", "resume"])
def test_state_changes_post_to_the_action(action: calls.Action) -> None:
    request = wire(calls.change_state("agent", action).request)
    assert (request.method, request.url.path) == ("POST", f"/v1/workspaces/agent/{action}")


def test_destroy_is_a_delete() -> None:
    request = wire(calls.destroy_workspace("agent").request)
    assert (request.method, request.url.path) == ("DELETE", "/v1/workspaces/agent")


def test_every_request_carries_the_key() -> None:
    assert wire(calls.info().request).headers["authorization"] == "Bearer crl_secret"
    anonymous = Connection(url="http://corral.test", api_key=None)
    assert "authorization" not in calls.health().request.to_httpx(anonymous).headers


def test_exec_body_matches_the_schema_and_the_wait_outlives_the_command() -> None:
    call = calls.exec_command("agent", ["echo", "hi"], {"cwd": "/tmp", "stdin": None})
    request = wire(call.request)
    body = json.loads(request.content)
    assert body == {"command": ["echo", "hi"], "cwd": "/tmp", "timeout": 60.0}
    schemas.ExecRequest.model_validate(body)
    assert request.url.path == "/v1/workspaces/agent/exec"
    assert request.extensions["timeout"]["read"] == 60.0 + calls.EXEC_GRACE_SECONDS


def test_exec_stream_has_no_read_timeout() -> None:
    request = wire(calls.exec_stream("agent", "sleep 100", {"timeout": 120}))
    assert request.url.path == "/v1/workspaces/agent/exec/stream"
    assert json.loads(request.content)["timeout"] == 120
    assert request.extensions["timeout"]["read"] is None
    assert request.extensions["timeout"]["connect"] == CONNECTION.timeout


def test_ordinary_requests_use_the_connection_timeout() -> None:
    assert wire(calls.info().request).extensions["timeout"]["read"] == CONNECTION.timeout


def test_exec_result_is_ok_only_for_a_clean_exit() -> None:
    call = calls.exec_command("agent", "true", {})
    base = {"stdout": "", "stderr": "", "duration_ms": 1.0}
    assert call.parse(respond({**base, "exit_code": 0, "timed_out": False})).ok
    assert not call.parse(respond({**base, "exit_code": 1, "timed_out": False})).ok
    assert not call.parse(respond({**base, "exit_code": 0, "timed_out": True})).ok


def test_write_sends_raw_bytes_and_the_mode() -> None:
    request = wire(calls.write_file("agent", "/tmp/a.txt", "héllo", mode=0o644).request)
    assert request.method == "PUT"
    assert request.content == "héllo".encode()
    assert request.url.params.multi_items() == [("path", "/tmp/a.txt"), ("mode", "420")]


def test_read_returns_the_bytes() -> None:
    call = calls.read_file("agent", "/bin/x")
    assert call.parse(httpx.Response(200, content=b"\x00\xff")) == b"\x00\xff"


def test_listing_parses_entries_into_file_entries() -> None:
    call = calls.list_files("agent", "/tmp")
    entries = call.parse(respond({"path": "/tmp", "entries": [ENTRY, {**ENTRY, "type": "dir"}]}))
    assert all(isinstance(entry, FileEntry) for entry in entries)
    assert [entry.is_dir for entry in entries] == [False, True]


def test_mkdir_and_remove() -> None:
    mkdir = wire(calls.make_dir("agent", "/a/b").request)
    assert json.loads(mkdir.content) == {"path": "/a/b", "parents": True}
    remove = wire(calls.remove_file("agent", "/a", recursive=True).request)
    assert remove.method == "DELETE"
    assert remove.url.params["recursive"] == "true"
    assert calls.remove_file("agent", "/a").parse(httpx.Response(204)) is None


def test_logs_tail_and_follow() -> None:
    assert wire(calls.logs("agent").request).url.query == b""
    assert wire(calls.logs("agent", tail=5).request).url.params["tail"] == "5"
    follow = wire(calls.follow_logs("agent", tail=0))
    assert follow.url.params.multi_items() == [("tail", "0"), ("follow", "true")]
    assert follow.extensions["timeout"]["read"] is None


def test_sandbox_names_are_valid_and_unique() -> None:
    names = {calls.sandbox_name() for _ in range(100)}
    assert len(names) == 100
    for name in names:
        schemas.WorkspaceCreate(name=name)


def test_exec_result_round_trips() -> None:
    result = ExecResult(exit_code=0, stdout="a", stderr="", timed_out=False, duration_ms=2.5)
    assert ExecResult.model_validate_json(result.model_dump_json()) == result
