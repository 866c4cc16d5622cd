"""The five agent patterns, end to end: each runnable example in examples/ is run for real
against a real daemon, and what it reports is checked."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient
from tests.conftest import Daemon
from tests.integration.test_network_internet import daemon, internet  # noqa: F401

from corral import Client

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(name.replace(".py", ""), EXAMPLES / name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sdk(server: Daemon) -> Iterator[Client]:
    with Client(url=server.url, api_key=server.api_key) as client:
        yield client


def test_1_persistent_assistant_survives_kills_and_daemon_restarts(
    server: Daemon, sdk: Client
) -> None:
    example = load("01_persistent_assistant.py")
    report = example.run(sdk)
    assert report["first"] == "Nice to meet you, Ada."
    assert report["after_kill"] == "Your name is Ada."
    assert report["restarts"] >= 1
    server.kill9()
    server.start()
    with Client(url=server.url, api_key=server.api_key) as client:
        example.ready(client)
        assert example.ask(client, "What is my name?") == "Your name is Ada."
        assert client.workspaces.get("assistant").state == "running"
        # A redeploy updates it in place: same disk, same memory.
        client.deploy(str(example.AGENT_DIR), "assistant", disk_mib=64, ports=[8080],
                      api_access=True)  # fmt: skip
        example.ready(client)
        assert example.ask(client, "What is my name?") == "Your name is Ada."
        client.workspaces.get("assistant").destroy()


def test_2_code_agent_sandboxes_contain_hostile_code(sdk: Client) -> None:
    report = load("02_code_agent.py").run(sdk)
    results = report["results"]
    assert results["arithmetic"] == {**results["arithmetic"], "exit_code": 0, "stdout": "5050\n"}
    for hostile in ("fork bomb", "memory bomb", "disk bomb", "network call", "infinite loop"):
        assert results[hostile]["exit_code"] != 0, hostile
    assert "No space left on device" in results["disk bomb"]["stderr"]
    assert "reached the internet" not in results["network call"]["stdout"]
    assert report["agent_alive"] and report["bystander_intact"]
    assert report["sandboxes_left"] == []


def test_3_private_services_reachable_only_over_links(sdk: Client) -> None:
    report = load("03_private_services.py").run(sdk)
    answers = list(report["answers"].values())
    assert answers == ["3", "handbook"]
    assert report["intruder_reaches_db"] is False
    assert report["intruder_reaches_search"] is False
    assert report["db_internet"] is False


def test_4_per_user_saas(sdk: Client) -> None:
    app = load("04_per_user_saas.py").make_app(sdk, idle_timeout_seconds=1)
    with TestClient(app) as web:
        assert web.post("/signup/alice").status_code == 201
        assert web.post("/signup/bob").status_code == 201
        wrote = web.post("/users/alice/run",
                         json={"code": "open('note.txt', 'w').write('alice only'); print('ok')"})
        assert wrote.json()["stdout"] == "ok\n"
        peek = web.post("/users/bob/run", json={"code": "print(open('note.txt').read())"})
        assert peek.json()["exit_code"] != 0 and "FileNotFoundError" in peek.json()["stderr"]
        deadline = time.monotonic() + 15
        while web.get("/users/alice").json()["state"] != "paused":
            assert time.monotonic() < deadline, "alice's idle workspace was not paused"
            time.sleep(0.2)
        back = web.post("/users/alice/run", json={"code": "print(open('note.txt').read())"})
        assert back.json()["stdout"] == "alice only\n" and back.json()["was"] == "paused"
        print(f"resume on request: {back.json()['ms']} ms (exec included)")
        assert web.delete("/users/alice").status_code == 204
        assert web.get("/users/alice").status_code == 404 or (
            web.get("/users/alice").json()["state"] == "destroyed")
        web.delete("/users/bob")


def test_5_multi_agent_network(daemon: Daemon) -> None:  # noqa: F811
    """`daemon`: one whose uplink is a fake internet the test made (no packet leaves)."""
    with Client(url=daemon.url, api_key=daemon.api_key) as client:
        report = load("05_multi_agent.py").run(client, "http://example.test/")
        assert report["research"].startswith("site ")
        assert report["test"] == "passed" and report["code_lines"] == 2
        assert report["tester_reached_internet"] is False
        assert report["left_behind"] == []
        assert [w.name for w in client.workspaces.list()] == []
