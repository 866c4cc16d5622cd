"""Snapshots into templates, workspaces from templates, and forks, against the real daemon."""

from __future__ import annotations

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.test_disks import create, run

from corral.drivers.storage import fscrypt

pytestmark = pytest.mark.integration


def identifier(server: Daemon, ws_or_disk: str) -> bytes | None:
    disk = ws_or_disk if ws_or_disk.startswith("tpl-") else f"ws-{ws_or_disk}"
    return fscrypt.policy_identifier(str(server.run_dir / "disks" / disk / "data"))


def snapshot(http: httpx.Client, ref: str, name: str) -> dict:  # type: ignore[type-arg]
    response = http.post(f"/v1/workspaces/{ref}/snapshot", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_snapshot_into_a_template_and_create_from_it(
    server: Daemon, http: httpx.Client, unique_name: str
) -> None:
    source = create(http, unique_name, disk_mib=32, command="sleep 100000",
                    env={"S": {"value": "sealed", "secret": True}})  # fmt: skip
    run(http, source["id"], "echo layer > /root/upper.txt; echo disk > /data/disk.txt; "
                            "rm /etc/os-release")  # fmt: skip
    template = snapshot(http, source["id"], f"{unique_name}-t")
    assert template["layers"] == 1 and template["disk_mib"] == 32 and template["image"] == "host"
    assert template["source"] == source["id"] and template["duration_ms"] > 0
    # The source was frozen for the copy only: it runs on, its processes untouched.
    assert http.get(f"/v1/workspaces/{source['id']}").json()["state"] == "running"
    assert run(http, source["id"], "pgrep -x sleep")["exit_code"] == 0

    derived = create(http, f"{unique_name}-d", template=f"{unique_name}-t")
    assert derived["template"] == template["id"] and derived["disk_mib"] == 32
    out = run(http, derived["id"], "cat /root/upper.txt /data/disk.txt; test -e /etc/os-release"
                                   " || echo deleted-in-layer")  # fmt: skip
    assert out["stdout"] == "layer\ndisk\ndeleted-in-layer\n"
    # Independent: its writes reach neither the source nor the template; its disk has a key
    # of its own (as does the template's).
    run(http, derived["id"], "echo changed > /data/disk.txt; echo changed > /root/upper.txt")
    assert run(http, source["id"], "cat /data/disk.txt /root/upper.txt")["stdout"] == (
        "disk\nlayer\n"
    )
    ids = {identifier(server, source["id"]), identifier(server, derived["id"]),
           identifier(server, f"tpl-{template['id']}")}  # fmt: skip
    assert len(ids) == 3 and None not in ids
    # A snapshot of a workspace made from a template stacks on its layers.
    child = snapshot(http, derived["id"], f"{unique_name}-t2")
    assert child["layers"] == 2
    grandchild = create(http, f"{unique_name}-g", template=child["id"])
    assert run(http, grandchild["id"], "cat /root/upper.txt /data/disk.txt")["stdout"] == (
        "changed\nchanged\n"
    )
    names = [t["name"] for t in http.get("/v1/templates").json()["templates"]]
    assert {f"{unique_name}-t", f"{unique_name}-t2"} <= set(names)
    # A template in use (by workspaces, or by a template stacked on it) stays.
    assert http.delete(f"/v1/templates/{template['id']}").status_code == 409
    for ws in (grandchild, derived, source):
        http.delete(f"/v1/workspaces/{ws['id']}")
    assert http.delete(f"/v1/templates/{template['id']}").status_code == 409  # t2 stacks on it
    for t in (child, template):
        assert http.delete(f"/v1/templates/{t['id']}").status_code == 200
        assert not (server.state_dir / "disks" / f"tpl-{t['id']}.img").exists()
        assert not (server.state_dir / "templates" / t["id"]).exists()


def test_template_requests_are_checked(http: httpx.Client, unique_name: str) -> None:
    source = create(http, unique_name, disk_mib=32)
    snapshot(http, source["id"], f"{unique_name}-t")
    again = http.post(f"/v1/workspaces/{source['id']}/snapshot", json={"name": f"{unique_name}-t"})
    assert again.status_code == 409
    both = http.post("/v1/workspaces", json={"name": f"{unique_name}-x", "image": "host",
                                             "template": f"{unique_name}-t"})  # fmt: skip
    assert both.status_code == 422
    small = http.post("/v1/workspaces", json={"name": f"{unique_name}-y", "disk_mib": 16,
                                              "template": f"{unique_name}-t"})  # fmt: skip
    assert small.status_code == 422
    missing = http.post("/v1/workspaces", json={"name": f"{unique_name}-z", "template": "nope"})
    assert missing.status_code == 404
    http.delete(f"/v1/workspaces/{source['id']}")
    assert http.delete(f"/v1/templates/{unique_name}-t").status_code == 200


def test_fork_is_an_independent_running_copy(
    server: Daemon, http: httpx.Client, unique_name: str
) -> None:
    source = create(http, unique_name, disk_mib=32, labels={"team": "a"},
                    env={"PLAIN": "p", "S": {"value": "sealed-value", "secret": True}})  # fmt: skip
    run(http, source["id"], "echo one > /data/d.txt; echo one > /srv/u.txt")
    response = http.post(f"/v1/workspaces/{source['id']}/fork", json={"name": f"{unique_name}-f"})
    assert response.status_code == 201, response.text
    fork = response.json()
    assert fork["state"] == "running" and fork["id"] != source["id"]
    assert fork["labels"] == {"team": "a"} and fork["secret_env_names"] == ["S"]
    assert run(http, fork["id"], "cat /data/d.txt /srv/u.txt; echo $PLAIN $S")["stdout"] == (
        "one\none\np sealed-value\n"
    )
    run(http, fork["id"], "echo fork > /data/d.txt; echo fork > /srv/u.txt")
    run(http, source["id"], "echo source > /data/new.txt")
    assert run(http, source["id"], "cat /data/d.txt /srv/u.txt")["stdout"] == "one\none\n"
    assert run(http, fork["id"], "test -e /data/new.txt || echo absent")["stdout"] == "absent\n"
    assert identifier(server, fork["id"]) != identifier(server, source["id"])
    # A stopped workspace forks too, and stays stopped.
    http.post(f"/v1/workspaces/{source['id']}/stop")
    second = http.post(f"/v1/workspaces/{source['id']}/fork", json={"name": f"{unique_name}-g"})
    assert second.status_code == 201 and second.json()["state"] == "running"
    assert http.get(f"/v1/workspaces/{source['id']}").json()["state"] == "stopped"
    assert run(http, second.json()["id"], "cat /data/new.txt")["stdout"] == "source\n"
    for ws in (source, fork, second.json()):
        http.delete(f"/v1/workspaces/{ws['id']}")


def test_fork_refuses_a_read_write_volume(http: httpx.Client, unique_name: str) -> None:
    volume = http.post("/v1/volumes", json={"name": unique_name, "size_mib": 16}).json()
    ws = create(http, unique_name, volumes=[{"name": unique_name, "path": "/mnt/v"}])
    refused = http.post(f"/v1/workspaces/{ws['id']}/fork", json={"name": f"{unique_name}-f"})
    assert refused.status_code == 409 and "read-write" in refused.json()["message"]
    http.delete(f"/v1/workspaces/{ws['id']}")
    http.delete(f"/v1/volumes/{volume['id']}")
