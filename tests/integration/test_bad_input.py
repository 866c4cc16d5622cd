"""Bad input, everywhere: each gets a 4xx JSON error that says what to fix, never a 500.

The last test checks that none of the rejected requests left anything behind on the host.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import Daemon

pytestmark = pytest.mark.integration

UNKNOWN = "no-such-workspace"


def assert_error(response: httpx.Response, status: int | tuple[int, ...], *words: str) -> dict:
    """A JSON error body with the expected status, whose message mentions every word."""
    expected = (status,) if isinstance(status, int) else status
    assert response.status_code in expected, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("message"), str) and len(body["message"]) > 5, body
    text = f"{body['message']} {body.get('hint') or ''}".lower()
    for word in words:
        assert word.lower() in text, f"{word!r} not in {body}"
    return body  # type: ignore[no-any-return]


# -- creating workspaces --------------------------------------------------------------------

BAD_CREATES = [
    ({"memory_mib": -1}, "memory_mib"),
    ({"memory_mib": 0}, "memory_mib"),
    ({"memory_mib": 1}, "memory_mib"),
    ({"memory_mib": "lots"}, "memory_mib"),
    ({"memory_mib": 1.5}, "memory_mib"),
    ({"cpu": 0}, "cpu"),
    ({"cpu": -1}, "cpu"),
    ({"cpu": -0.0001}, "cpu"),
    ({"cpu": "fast"}, "cpu"),
    ({"cpu": 10_000}, "cpu"),
    ({"pids": 0}, "pids"),
    ({"pids": -5}, "pids"),
    ({"pids": 10**30}, "pids"),
    ({"ttl_seconds": 0}, "ttl_seconds"),
    ({"ttl_seconds": -1}, "ttl_seconds"),
    ({"ttl_seconds": 10**12}, "ttl_seconds"),
    ({"ttl_seconds": "soon"}, "ttl_seconds"),
    ({"name": "Upper"}, "name"),
    ({"name": "has space"}, "name"),
    ({"name": "x" * 64}, "name"),
    ({"name": "x" * 300}, "name"),
    ({"name": ""}, "name"),
    ({"name": "-leading"}, "name"),
    ({"name": "trailing-"}, "name"),
    ({"name": "dot.ted"}, "name"),
    ({"name": "../etc"}, "name"),
    ({"name": "nul\x00byte"}, "name"),
    ({"name": 5}, "name"),
    ({"name": None}, "name"),
    ({"name": ["a"]}, "name"),
    ({"image": "../../etc"}, "image"),
    ({"image": "/"}, "image"),
    ({"image": ""}, "image"),
    ({"restart": "sometimes"}, "restart"),
    ({"restart": "always"}, "command"),
    ({"command": []}, "command"),
    ({"command": "   "}, "command"),
    ({"command": 42}, "command"),
    ({"command": [1, 2]}, "command"),
    ({"env": {"1BAD": "x"}}, "env"),
    ({"env": {"A=B": "x"}}, "env"),
    ({"env": {"A": "nul\x00"}}, "env"),
    ({"env": {"A": 1}}, "env"),
    ({"env": ["A=1"]}, "env"),
    ({"labels": {"bad key!": "x"}}, "label"),
    ({"labels": {"k": "v" * 300}}, "label"),
    ({"labels": {"k": 1}}, "labels"),
    ({"bogus": 1}, "bogus"),
    ({"memory": 64}, "memory"),
]


@pytest.mark.parametrize(
    ("fields", "word"), BAD_CREATES, ids=[repr(f)[:60] for f, _ in BAD_CREATES]
)
def test_bad_create_is_a_422_naming_the_field(
    http: httpx.Client, unique_name: str, fields: dict, word: str
) -> None:
    body = {"name": unique_name, **fields}
    assert_error(http.post("/v1/workspaces", json=body), 422, word)


def test_unknown_image_says_which_images_exist(http: httpx.Client, unique_name: str) -> None:
    body = assert_error(
        http.post("/v1/workspaces", json={"name": unique_name, "image": "no-such-image"}),
        422,
        "no-such-image",
    )
    assert "host" in (body.get("hint") or ""), body


def test_missing_name_and_non_object_bodies(http: httpx.Client) -> None:
    assert_error(http.post("/v1/workspaces", json={}), 422, "name")
    bodies: list[object] = [[], "name", 42, None]
    for body in bodies:
        assert_error(http.post("/v1/workspaces", json=body), 422)


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b'{"name": ', b"\xff\xfe\x00", b"", b'{"name": "a",}', b"name=a"],
    ids=["garbage", "truncated", "binary", "empty", "trailing-comma", "form"],
)
def test_malformed_json_is_a_422(http: httpx.Client, raw: bytes) -> None:
    headers = {"content-type": "application/json"}
    assert_error(http.post("/v1/workspaces", content=raw, headers=headers), (400, 422))
    assert_error(http.post(f"/v1/workspaces/{UNKNOWN}/exec", content=raw, headers=headers),
                 (400, 404, 422))  # fmt: skip


def test_nan_and_infinity_are_rejected(http: httpx.Client, unique_name: str) -> None:
    headers = {"content-type": "application/json"}
    for literal in (b"NaN", b"Infinity", b"-Infinity"):
        raw = b'{"name": "%s", "cpu": %s}' % (unique_name.encode(), literal)
        assert_error(http.post("/v1/workspaces", content=raw, headers=headers), 422, "cpu")


def test_cpu_below_the_kernel_minimum_is_a_422_not_a_500(
    http: httpx.Client, unique_name: str
) -> None:
    """CFS takes a quota of at least 1 ms per 100 ms period: 0.01 core."""
    for cpu in (0.001, 0.005):
        response = http.post("/v1/workspaces", json={"name": unique_name, "cpu": cpu})
        if response.status_code == 201:
            http.delete(f"/v1/workspaces/{response.json()['id']}")
        assert_error(response, 422, "cpu")


def test_tiny_cpu_never_means_unlimited(http: httpx.Client, unique_name: str) -> None:
    """cpu=1e-6 gives a quota of int(0.1) = 0 us, which the runtime reads as "no limit"."""
    response = http.post("/v1/workspaces", json={"name": unique_name, "cpu": 0.000001})
    if response.status_code == 201:
        wid = response.json()["id"]
        quota = Path(f"/sys/fs/cgroup/cpu/corral/{wid}/cpu.cfs_quota_us")
        applied = quota.read_text().strip() if quota.exists() else "?"
        http.delete(f"/v1/workspaces/{wid}")
        assert applied != "-1", "cpu=0.000001 was accepted and the workspace has no CPU limit"
    else:
        assert_error(response, 422, "cpu")


def test_nul_bytes_in_commands_are_a_4xx(
    http: httpx.Client, workspace: dict, unique_name: str
) -> None:
    wid = workspace["id"]
    for body in ({"command": ["echo", "a\x00b"]}, {"command": "echo a\x00b"},
                 {"command": "pwd", "cwd": "/tmp\x00x"}):  # fmt: skip
        assert_error(http.post(f"/v1/workspaces/{wid}/exec", json=body), 422)
    # The same NUL in a workspace's main command would be silently cut short.
    created = http.post("/v1/workspaces", json={"name": unique_name, "command": ["sleep", "9\x00"]})
    if created.status_code == 201:
        http.delete(f"/v1/workspaces/{created.json()['id']}")
    assert_error(created, 422, "command")


def test_duplicate_name_is_a_409(http: httpx.Client, workspace: dict) -> None:
    body = assert_error(
        http.post("/v1/workspaces", json={"name": workspace["name"]}), 409, workspace["name"]
    )
    assert body["error"] == "conflict"


# -- exec and files ---------------------------------------------------------------------------

BAD_EXECS = [
    ({}, "command"),
    ({"command": []}, "command"),
    ({"command": ""}, "command"),
    ({"command": 5}, "command"),
    ({"command": {"sh": "true"}}, "command"),
    ({"command": "true", "timeout": 0}, "timeout"),
    ({"command": "true", "timeout": -1}, "timeout"),
    ({"command": "true", "timeout": 10**12}, "timeout"),
    ({"command": "true", "timeout": "long"}, "timeout"),
    ({"command": "true", "cwd": "tmp"}, "cwd"),
    ({"command": "true", "cwd": 7}, "cwd"),
    ({"command": "true", "env": {"A B": "x"}}, "env"),
    ({"command": "true", "env": {"A": "\x00"}}, "env"),
    ({"command": "true", "stdin": 5}, "stdin"),
    ({"command": "true", "bogus": True}, "bogus"),
]


def test_bad_exec_is_a_422_naming_the_field(http: httpx.Client, workspace: dict) -> None:
    for body, word in BAD_EXECS:
        for endpoint in ("exec", "exec/stream"):
            response = http.post(f"/v1/workspaces/{workspace['id']}/{endpoint}", json=body)
            assert_error(response, 422, word)


def test_bad_file_parameters(http: httpx.Client, workspace: dict) -> None:
    base = f"/v1/workspaces/{workspace['id']}/files"
    assert_error(http.get(base), 422, "path")
    assert_error(http.get(base, params={"path": ""}), 422, "path")
    assert_error(http.get(f"{base}/list"), 422, "path")
    assert_error(http.put(base, params={"path": "/tmp/x", "mode": -1}, content=b"x"), 422, "mode")
    assert_error(http.put(base, params={"path": "/tmp/x", "mode": 0o10000}, content=b"x"), 422,
                 "mode")  # fmt: skip
    assert_error(http.put(base, params={"path": "/tmp/x", "mode": "rw"}, content=b"x"), 422, "mode")
    assert_error(http.delete(base, params={"path": "/tmp", "recursive": "maybe"}), 422,
                 "recursive")  # fmt: skip
    assert_error(http.delete(base, params={"path": "/"}), 422)
    assert_error(http.post(f"{base}/mkdir", json={}), 422, "path")
    assert_error(http.post(f"{base}/mkdir", json={"path": 5}), 422, "path")
    assert_error(http.post(f"{base}/mkdir", json={"path": "/x", "parents": "yes please"}), 422,
                 "parents")  # fmt: skip
    assert_error(http.post(f"{base}/mkdir", json={"path": "/x", "mode": 7}), 422, "mode")


def test_bad_query_parameters(http: httpx.Client, workspace: dict) -> None:
    assert_error(http.get("/v1/workspaces", params={"state": "bogus"}), 422, "state")
    assert_error(http.get("/v1/workspaces", params={"label": "novalue"}), 422, "key=value")
    assert_error(http.get(f"/v1/workspaces/{workspace['id']}/logs", params={"tail": -1}), 422,
                 "tail")  # fmt: skip
    assert_error(http.post(f"/v1/workspaces/{workspace['id']}/explode"), (404, 422), "action")


# -- unknown workspaces and auth -----------------------------------------------------------------

ENDPOINTS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/v1/workspaces/{ref}", {}),
    ("DELETE", "/v1/workspaces/{ref}", {}),
    ("POST", "/v1/workspaces/{ref}/start", {}),
    ("POST", "/v1/workspaces/{ref}/stop", {}),
    ("POST", "/v1/workspaces/{ref}/pause", {}),
    ("POST", "/v1/workspaces/{ref}/resume", {}),
    ("POST", "/v1/workspaces/{ref}/exec", {"json": {"command": "true"}}),
    ("POST", "/v1/workspaces/{ref}/exec/stream", {"json": {"command": "true"}}),
    ("GET", "/v1/workspaces/{ref}/logs", {}),
    ("GET", "/v1/workspaces/{ref}/files", {"params": {"path": "/etc/passwd"}}),
    ("PUT", "/v1/workspaces/{ref}/files", {"params": {"path": "/tmp/x"}, "content": b"x"}),
    ("DELETE", "/v1/workspaces/{ref}/files", {"params": {"path": "/tmp/x"}}),
    ("GET", "/v1/workspaces/{ref}/files/list", {"params": {"path": "/"}}),
    ("GET", "/v1/workspaces/{ref}/files/stat", {"params": {"path": "/"}}),
    ("POST", "/v1/workspaces/{ref}/files/mkdir", {"json": {"path": "/tmp/d"}}),
]


@pytest.mark.parametrize("ref", [UNKNOWN, "0123456789ab", "%2e%2e", "a" * 200])
def test_unknown_workspace_is_a_404_on_every_endpoint(http: httpx.Client, ref: str) -> None:
    for method, path, kwargs in ENDPOINTS:
        response = http.request(method, path.format(ref=ref), **kwargs)
        assert_error(response, 404)


def test_missing_or_wrong_api_key_is_a_401_everywhere(server: Daemon, workspace: dict) -> None:
    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/v1/workspaces", {}),
        ("POST", "/v1/workspaces", {"json": {"name": "x"}}),
        ("GET", "/v1/info", {}),
    ]
    routes += [(m, p.format(ref=workspace["id"]), kw) for m, p, kw in ENDPOINTS]
    bad_headers = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer crl_wrong"},
        {"Authorization": f"Bearer {server.api_key}x"},
        {"Authorization": f"Basic {server.api_key}"},
        {"Authorization": server.api_key},
        {"X-Api-Key": server.api_key},
    ]
    with httpx.Client(base_url=server.url, timeout=30) as anonymous:
        for headers in bad_headers:
            for method, path, kwargs in routes:
                response = anonymous.request(method, path, headers=headers, **kwargs)
                assert_error(response, 401)
    # Nothing of the above touched the workspace.
    with server.http() as http:
        assert http.get(f"/v1/workspaces/{workspace['id']}").json()["state"] == "running"


# -- lifecycle transitions ------------------------------------------------------------------------


def _act(http: httpx.Client, wid: str, action: str) -> httpx.Response:
    return http.post(f"/v1/workspaces/{wid}/{action}")


def test_invalid_transitions_are_409_saying_why(http: httpx.Client, workspace: dict) -> None:
    wid = workspace["id"]
    assert_error(_act(http, wid, "resume"), 409, "resume", "running")
    assert_error(_act(http, wid, "start"), 409, "start", "running")
    assert _act(http, wid, "pause").status_code == 200
    body = assert_error(_act(http, wid, "pause"), 409, "pause", "paused")
    assert "resume" in (body.get("hint") or ""), body
    assert_error(_act(http, wid, "start"), 409, "start", "paused")
    assert _act(http, wid, "resume").status_code == 200
    assert _act(http, wid, "stop").status_code == 200
    assert_error(_act(http, wid, "stop"), 409, "stop", "stopped")
    assert_error(_act(http, wid, "pause"), 409, "pause", "stopped")
    assert_error(_act(http, wid, "resume"), 409, "resume", "stopped")
    assert_error(http.post(f"/v1/workspaces/{wid}/exec", json={"command": "true"}), 409,
                 "stopped")  # fmt: skip
    assert _act(http, wid, "start").status_code == 200
    assert http.get(f"/v1/workspaces/{wid}").json()["state"] == "running"


def test_a_destroyed_workspace_refuses_everything_with_the_right_hint(
    http: httpx.Client, unique_name: str
) -> None:
    created = http.post("/v1/workspaces", json={"name": unique_name})
    assert created.status_code == 201, created.text
    wid = created.json()["id"]
    assert http.delete(f"/v1/workspaces/{wid}").status_code == 200
    for action in ("start", "stop", "pause", "resume"):
        assert_error(_act(http, wid, action), (404, 409), "destroyed")
    again = http.delete(f"/v1/workspaces/{wid}")  # idempotent, or refused: never a 5xx
    if again.status_code == 200:
        assert again.json()["state"] == "destroyed"
    else:
        assert_error(again, (404, 409))
    assert_error(http.get(f"/v1/workspaces/{wid}/files", params={"path": "/etc/passwd"}),
                 (404, 409))  # fmt: skip
    refused = http.post(f"/v1/workspaces/{wid}/exec", json={"command": "true"})
    body = assert_error(refused, (404, 409), "destroyed")
    assert "start it" not in (body.get("hint") or ""), (
        f"a destroyed workspace cannot be started, yet the hint says: {body['hint']!r}"
    )


# -- nothing left behind ------------------------------------------------------------------------


def test_rejected_requests_left_nothing_behind(http: httpx.Client, server: Daemon) -> None:
    """Runs last in this module: every workspace dir, netns and bundle belongs to a live one."""
    live = {ws["id"] for ws in http.get("/v1/workspaces").json()["workspaces"]}
    for directory in (server.state_dir / "workspaces", server.run_dir / "netns",
                      server.run_dir / "bundles"):  # fmt: skip
        present = set(os.listdir(directory)) if directory.is_dir() else set()
        assert present <= live, f"leaked in {directory}: {sorted(present - live)}"
    names = [ws["name"] for ws in http.get("/v1/workspaces").json()["workspaces"]]
    assert not [n for n in names if n.startswith("test-bad")], names
    assert server.proc is not None and server.proc.poll() is None
    assert http.get("/v1/health").status_code == 200


def test_a_bad_name_says_in_words_what_a_name_is(http: httpx.Client) -> None:
    response = http.post("/v1/workspaces", json={"name": "My Agent"})
    assert response.status_code == 422
    message = response.json()["message"]
    assert "name: must be 1-63 lowercase letters, digits or '-'" in message, message
    assert "'My Agent'" in message and "^[a-z0-9]" not in message
