"""Private networking on real namespaces and real TCP: links, air gaps, spoofing, names,
published ports, API access from inside, clean destroys, crash safety.

Every connection goes to an address inside a namespace the test (or its daemon) created, or
to loopback. Blocked connections are dropped, so a probe of one waits out its timeout.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.network_probes import (
    host_listener,
    in_hub,
    ok,
    probe,
    probe_in,
    reached,
    rows,
    run,
    serve,
    wait_until,
    workspace_netns,
)

from corral.drivers.network.layout import mac_for

pytestmark = pytest.mark.integration


@pytest.fixture
def make(http: httpx.Client, unique_name: str) -> Iterator:  # type: ignore[type-arg]
    """make(suffix, **spec): a running workspace, destroyed after the test."""
    made: list[str] = []

    def create(suffix: str, **spec: object) -> dict:
        response = http.post("/v1/workspaces", json={"name": f"{unique_name}-{suffix}", **spec})
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        return response.json()  # type: ignore[no-any-return]

    yield create
    for wid in made:
        http.delete(f"/v1/workspaces/{wid}")


def test_a_link_opens_exactly_one_port_one_way(http: httpx.Client, make) -> None:  # type: ignore[no-untyped-def]
    db = make("db")
    app = make("app", links=[{"to": db["name"], "port": 5432}])
    other = make("other")
    assert app["ip"] and db["ip"] and len({app["ip"], db["ip"], other["ip"]}) == 3
    serve(http, db["id"], 5432, 5433, banner="db")
    serve(http, app["id"], 5432, banner="app")
    got = probe(http, app["id"], f"{db['ip']}:5432", f"{db['name']}.corral.internal:5432",
                f"{db['name']}:5432", f"{db['ip']}:5433")  # fmt: skip
    assert reached(got) == {f"{db['ip']}:5432", f"{db['name']}.corral.internal:5432",
                            f"{db['name']}:5432"}, got  # fmt: skip
    assert got[f"{db['ip']}:5432"] == "ok:db:5432"
    assert not reached(probe(http, other["id"], f"{db['ip']}:5432", f"{app['ip']}:5432"))
    assert not reached(probe(http, db["id"], f"{app['ip']}:5432")), "a link is one-way"
    # The target sees the source's own address (no NAT between workspaces).
    assert ok(http, db["id"], "cat /tmp/peers-5432").split() == [app["ip"]] * 3


def test_links_apply_live_and_deleting_one_cuts_connections(
    http: httpx.Client, make  # type: ignore[no-untyped-def]
) -> None:
    db, app = make("db"), make("app")
    serve(http, db["id"], 6000, banner="db")
    target = f"{db['ip']}:6000"
    assert not reached(probe(http, app["id"], target))
    assert db["name"] not in ok(http, app["id"], "cat /etc/hosts")

    started = time.perf_counter()
    created = http.post("/v1/links", json={"from": app["name"], "to": db["id"], "port": 6000})
    assert created.status_code == 201, created.text
    assert reached(probe(http, app["id"], target, timeout=3)) == {target}
    link = created.json()
    print(f"link created and used in {(time.perf_counter() - started) * 1000:.1f} ms")
    assert (link["from"], link["to"], link["from_name"], link["port"]) == (
        app["id"], db["id"], app["name"], 6000)  # fmt: skip
    assert f"{db['ip']}\t{db['name']}.corral.internal {db['name']}" in ok(
        http, app["id"], "cat /etc/hosts")  # fmt: skip
    listed = http.get("/v1/links", params={"workspace": db["name"]}).json()["links"]
    assert [item["id"] for item in listed] == [link["id"]]
    duplicate = http.post("/v1/links", json={"from": app["id"], "to": db["id"], "port": 6000})
    assert duplicate.status_code == 409

    # A connection held open across the delete: revoking the link ends it.
    holder = (
        "import socket, sys, time\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)\n"
        "print(s.recv(100).decode(), flush=True)\n"
        "open('/tmp/held', 'w').close()\n"
        "while not __import__('os').path.exists('/tmp/go'): time.sleep(0.02)\n"
        "s.settimeout(3)\n"
        "try:\n"
        "    s.sendall(b'x' * 100000); s.recv(1); print('still-open')\n"
        "except OSError as exc:\n"
        "    print('cut', type(exc).__name__)\n"
    )
    run(http, app["id"], ["sh", "-c", 'nohup python3 -c "$0" "$1" "$2" > /tmp/held.out 2>&1 &',
                          holder, db["ip"], "6000"])  # fmt: skip
    ok(http, app["id"], "for i in $(seq 200); do test -e /tmp/held && exit 0; sleep 0.02; done")

    started = time.perf_counter()
    assert http.delete(f"/v1/links/{link['id']}").status_code == 204
    print(f"link deleted in {(time.perf_counter() - started) * 1000:.1f} ms")
    assert not reached(probe(http, app["id"], target))
    assert db["name"] not in ok(http, app["id"], "cat /etc/hosts")
    assert http.get(f"/v1/links/{link['id']}").status_code == 404
    time.sleep(0.5)  # revoked flows are cut in the background, within milliseconds
    ok(http, app["id"], "touch /tmp/go")
    held = wait_until(lambda: ok(http, app["id"], "cat /tmp/held.out").split("\n", 1)[1], 10)
    assert held.startswith("cut"), held


def test_link_requests_are_checked(http: httpx.Client, make) -> None:  # type: ignore[no-untyped-def]
    a = make("a")
    for body, status in (
        ({"from": a["id"], "to": a["id"], "port": 80}, 422),
        ({"from": a["id"], "to": "no-such-workspace", "port": 80}, 404),
        ({"from": a["id"], "to": a["id"], "port": 0}, 422),
        ({"from": a["id"], "to": a["id"], "port": 80, "protocol": "icmp"}, 422),
    ):
        assert http.post("/v1/links", json=body).status_code == status, body
    bad = http.post("/v1/workspaces", json={"name": f"{a['name']}-x",
                                            "links": [{"to": "nope", "port": 1}]})  # fmt: skip
    assert bad.status_code == 422 and "nope" in bad.json()["message"]
    assert http.get(f"/v1/workspaces/{a['name']}-x").status_code == 404


def test_air_gapped_workspace_reaches_nothing(
    http: httpx.Client, server: Daemon, make  # type: ignore[no-untyped-def]
) -> None:
    lonely, neighbour = make("lonely"), make("neighbour", internet=False)
    assert lonely["internet"] is False and lonely["ports"] == [] and not lonely["api_access"]
    serve(http, neighbour["id"], 7000)
    host_addresses = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show"],
                                               capture_output=True, text=True).stdout)  # fmt: skip
    mine = [a["local"] for link in host_addresses for a in link.get("addr_info", [])
            if not a["local"].startswith("127.")]  # fmt: skip
    subnet = ipaddress.ip_network(server.subnet)
    gateway, host_end = str(subnet[1]), str(subnet[-3])
    assert host_end in mine  # the host's end of the hub link is one of them
    # A listener on every address of the host (its own addresses: no traffic leaves it).
    with host_listener() as (port, accepted):
        targets = [f"{neighbour['ip']}:7000", f"{gateway}:{server.port}", f"{gateway}:22",
                   f"127.0.0.1:{port}", *(f"{ip}:{port}" for ip in mine)]  # fmt: skip
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # control: the listener works
        got = probe(http, lonely["id"], *targets)
    assert not reached(got), got
    assert accepted == ["127.0.0.1"], f"the host accepted connections from a workspace: {accepted}"
    # No route out at all (only the private subnet, through the hub); DNS has nowhere to go.
    routes = ok(http, lonely["id"], "ip route show")
    assert "default" not in routes and str(subnet) in routes, routes
    assert run(http, lonely["id"], ["python3", "-c", "import socket; "
               "socket.getaddrinfo('example.com', 80)"], timeout=10)["exit_code"] != 0  # fmt: skip


def test_spoofing_addresses_gains_nothing(
    http: httpx.Client, server: Daemon, make  # type: ignore[no-untyped-def]
) -> None:
    db = make("db")
    app = make("app", links=[{"to": db["id"], "port": 5432}])
    mallory = make("mallory")
    serve(http, db["id"], 5432, banner="db")
    target = f"{db['ip']}:5432"
    assert reached(probe(http, app["id"], target)) == {target}  # control
    # From inside, a workspace cannot change its address or MAC (no CAP_NET_ADMIN).
    for command in (f"ip addr add {app['ip']}/32 dev eth0",
                    f"ip link set dev eth0 address {mac_for(app['ip'])}",
                    "ip route add 10.0.0.0/8 dev eth0"):  # fmt: skip
        assert run(http, mallory["id"], command)["exit_code"] != 0, command
    # With those powers (root in its namespace, from the host), it still gains nothing: the
    # hub pins each veth to one address and one MAC.
    netns = workspace_netns(server, mallory["id"])

    def as_mallory(*argv: str) -> None:
        subprocess.run(["nsenter", f"--net={netns}", *argv], check=True)

    as_mallory("ip", "addr", "add", f"{app['ip']}/32", "dev", "eth0")
    assert not reached(probe_in(netns, target, bind=app["ip"])), "spoofed source address"
    as_mallory("ip", "link", "set", "dev", "eth0", "address", mac_for(app["ip"]))
    assert not reached(probe_in(netns, target, bind=app["ip"])), "spoofed address and MAC"
    # ARP poisoning: claim the app's address for mallory's veth, then check the hub's view.
    _gratuitous_arp(netns, app["ip"], mac_for(mallory["ip"]))
    as_mallory("ip", "link", "set", "dev", "eth0", "address", mac_for(mallory["ip"]))
    _gratuitous_arp(netns, app["ip"], mac_for(mallory["ip"]))
    neigh = in_hub(server, "ip", "neigh", "show", app["ip"])
    assert mac_for(mallory["ip"]) not in neigh, neigh
    assert reached(probe(http, app["id"], target)) == {target}, "the real owner lost its link"
    assert ok(http, db["id"], "sort -u /tmp/peers-5432").split() == [app["ip"]]


def hub_port_ids(daemon: Daemon) -> set[str]:
    """Workspace ids of the veth ends in the daemon's hub."""
    names = [line.split(":")[1].strip().split("@")[0]
             for line in in_hub(daemon, "ip", "-o", "link", "show").splitlines()]  # fmt: skip
    return {name[1:] for name in names if name.startswith("w")}


def _gratuitous_arp(netns: object, ip: str, mac: str) -> None:
    """Broadcast 'ip is at mac' from eth0 of a namespace (as root: raw sockets)."""
    code = (
        "import socket, struct, sys\n"
        "ip, mac = socket.inet_aton(sys.argv[1]), bytes.fromhex(sys.argv[2].replace(':', ''))\n"
        "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
        "s.bind(('eth0', 0))\n"
        "arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 2, mac, ip, b'\\xff' * 6, ip)\n"
        "for _ in range(3): s.send(b'\\xff' * 6 + mac + b'\\x08\\x06' + arp)\n"
    )
    subprocess.run(["nsenter", f"--net={netns}", "python3", "-c", code, ip, mac], check=True)


def test_published_port_only_through_the_authenticated_proxy(
    http: httpx.Client, server: Daemon, make  # type: ignore[no-untyped-def]
) -> None:
    web = make("web", ports=[8080])
    other = make("other")
    assert web["ports"] == [8080]
    echo = (
        "import http.server, json\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def _answer(self):\n"
        "        body = self.rfile.read(int(self.headers.get('content-length') or 0))\n"
        "        out = json.dumps({'path': self.path, 'method': self.command,\n"
        "                          'body': body.decode(), 'port': self.server.server_port,\n"
        "                          'headers': {k.lower(): v for k, v in self.headers.items()}})\n"
        "        out = out.encode()\n"
        "        self.send_response(201); self.send_header('x-echo', 'yes')\n"
        "        self.send_header('content-length', str(len(out))); self.end_headers()\n"
        "        self.wfile.write(out)\n"
        "    do_GET = do_POST = _answer\n"
        "import sys, threading\n"
        "for port in (8080, 8081):\n"
        "    s = http.server.ThreadingHTTPServer(('0.0.0.0', port), H)\n"
        "    threading.Thread(target=s.serve_forever, daemon=True).start()\n"
        "open('/tmp/up', 'w').close()\n"
        "threading.Event().wait()\n"
    )
    run(http, web["id"], ["sh", "-c", 'nohup python3 -c "$0" >/dev/null 2>&1 &', echo])
    ok(http, web["id"], "for i in $(seq 200); do test -e /tmp/up && exit 0; sleep 0.02; done")
    base = f"/v1/workspaces/{web['id']}/ports"

    answer = http.post(f"{base}/8080/some/path", params={"q": "1"}, content=b"payload",
                       headers={"x-custom": "kept"})  # fmt: skip
    assert answer.status_code == 201 and answer.headers["x-echo"] == "yes", answer.text
    seen = answer.json()
    assert (seen["path"], seen["method"], seen["body"]) == ("/some/path?q=1", "POST", "payload")
    assert seen["headers"]["x-custom"] == "kept"
    assert "authorization" not in seen["headers"], "the caller's API key reached the workspace"
    by_name = http.get(f"/v1/workspaces/{web['name']}/ports/8080")
    assert by_name.status_code == 201 and by_name.json()["path"] == "/"

    assert httpx.get(f"{server.url}{base}/8080/").status_code == 401
    wrong = httpx.get(f"{server.url}{base}/8080/", headers={"Authorization": "Bearer crl_no"})
    assert wrong.status_code == 401
    assert http.get(f"{base}/8081/").status_code == 404  # listening, but not published
    # Nobody reaches it directly: not another workspace.
    assert not reached(probe(http, other["id"], f"{web['ip']}:8080"))

    updated = http.post(f"/v1/workspaces/{web['id']}/network", json={"ports": [8080, 8081]})
    assert updated.status_code == 200 and updated.json()["ports"] == [8080, 8081]
    assert http.get(f"{base}/8081/").json()["port"] == 8081
    http.post(f"/v1/workspaces/{web['id']}/network", json={"ports": []})
    assert http.get(f"{base}/8080/").status_code == 404


def test_api_access_from_inside_and_from_nowhere_else(
    http: httpx.Client, server: Daemon, make  # type: ignore[no-untyped-def]
) -> None:
    agent = make("agent", api_access=True)
    plain = make("plain")
    assert agent["api_access"] and {"CORRAL_URL", "CORRAL_TOKEN"} <= set(agent["env_names"])
    env = json.loads(ok(http, agent["id"], ["python3", "-c",
                        "import os, json; print(json.dumps({k: os.environ[k] for k in "
                        "('CORRAL_URL', 'CORRAL_TOKEN')}))"]))  # fmt: skip
    url, token = env["CORRAL_URL"], env["CORRAL_TOKEN"]
    assert url.startswith(f"http://{ipaddress.ip_network(server.subnet)[1]}:")
    call = (
        "import json, sys, urllib.request\n"
        "request = urllib.request.Request(sys.argv[1] + '/v1/workspaces',\n"
        "                                 headers={'Authorization': 'Bearer ' + sys.argv[2]})\n"
        "try:\n"
        "    print(json.dumps([w['name'] for w in\n"
        "          json.load(urllib.request.urlopen(request, timeout=3))['workspaces']]))\n"
        "except Exception as exc:\n"
        "    print(json.dumps(type(exc).__name__ + ' ' + str(getattr(exc, 'code', ''))))\n"
    )
    # Its token is scoped to the workspaces it creates: none yet (not its tenant's others).
    assert json.loads(ok(http, agent["id"], ["python3", "-c", call, url, token])) == []
    assert "401" in json.loads(ok(http, agent["id"], ["python3", "-c", call, url, "crl_bad"]))
    # The other workspace cannot reach the daemon at all, not even with a valid token.
    assert "URLError" in json.loads(ok(http, plain["id"], ["python3", "-c", call, url, token]))
    # The token is the owner's key until the workspace goes; then it is revoked.
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/v1/workspaces", headers=headers).status_code == 200
    http.delete(f"/v1/workspaces/{agent['id']}")
    assert httpx.get(f"{server.url}/v1/workspaces", headers=headers).status_code == 401


def test_destroy_leaves_no_veth_netns_rule_or_address(
    http: httpx.Client, server: Daemon, make  # type: ignore[no-untyped-def]
) -> None:
    db = make("db")
    app = make("app", links=[{"to": db["id"], "port": 5432}], ports=[80], api_access=True)
    ruleset = in_hub(server, "nft", "list", "ruleset")
    assert app["ip"] in ruleset and "link " in ruleset
    assert rows(server, "SELECT ip FROM addresses WHERE workspace_id = ?", app["id"])
    assert app["id"] in hub_port_ids(server)

    assert http.delete(f"/v1/workspaces/{app['id']}").json()["state"] == "destroyed"
    assert not workspace_netns(server, app["id"]).exists()
    assert not (server.run_dir / "net" / app["id"]).exists()
    assert wait_until(lambda: app["id"] not in hub_port_ids(server))
    ruleset = in_hub(server, "nft", "list", "ruleset")
    assert app["ip"] not in ruleset and "link " not in ruleset, ruleset
    assert not rows(server, "SELECT * FROM addresses WHERE workspace_id = ?", app["id"])
    assert not rows(server, "SELECT * FROM links WHERE source = ? OR target = ?", app["id"],
                    app["id"])  # fmt: skip
    assert http.get("/v1/links", params={"workspace": db["id"]}).json()["links"] == []
    # Its address is free again.
    again = make("again")
    assert again["ip"] == app["ip"]


def test_failed_create_leaves_no_network_behind(
    http: httpx.Client, server: Daemon, unique_name: str
) -> None:
    import shutil

    broken = server.state_dir / "images" / "broken-net" / "rootfs"
    broken.mkdir(parents=True)
    (broken / ".corral").write_text("a file where the init's mount point must be a directory")
    before = rows(server, "SELECT workspace_id FROM addresses")
    try:
        spec = {"name": unique_name, "image": "broken-net", "ports": [80], "api_access": True}
        response = http.post("/v1/workspaces", json=spec)
        assert response.status_code == 500, response.text
    finally:
        shutil.rmtree(broken.parent)
    assert rows(server, "SELECT workspace_id FROM addresses") == before
    live = {w["id"] for w in http.get("/v1/workspaces").json()["workspaces"]}
    assert wait_until(lambda: not hub_port_ids(server) - live), hub_port_ids(server) - live
    assert not {p.name for p in (server.run_dir / "netns").iterdir()} - live
    revoked = rows(server, "SELECT COUNT(*) FROM api_keys WHERE role = 'workspace' AND "
                           "revoked_at IS NULL")[0][0]  # fmt: skip
    live_agents = sum(1 for w in http.get("/v1/workspaces").json()["workspaces"]
                      if w["api_access"])  # fmt: skip
    assert revoked == live_agents


def test_invalid_network_specs_are_refused(http: httpx.Client, unique_name: str) -> None:
    for spec in ({"egress": ["2001:db8::/32"]}, {"egress": ["not a domain"]},
                 {"ports": [0]}, {"ports": [70000]}, {"internet": "maybe"}):  # fmt: skip
        response = http.post("/v1/workspaces", json={"name": unique_name, **spec})
        assert response.status_code == 422, (spec, response.text)
    assert http.post("/v1/workspaces/nope/network", json={"internet": True}).status_code == 404


def test_network_survives_a_daemon_crash_and_strays_are_cleaned(
    server: Daemon, unique_name: str
) -> None:
    with server.http() as http:
        db = http.post("/v1/workspaces", json={"name": f"{unique_name}-db"}).json()
        app = http.post("/v1/workspaces", json={"name": f"{unique_name}-app",
                        "links": [{"to": db["id"], "port": 5432}]}).json()  # fmt: skip
        serve(http, db["id"], 5432)
        assert reached(probe(http, app["id"], f"{db['ip']}:5432"))
    server.kill9()
    # Left behind by a "crash": a veth in the hub, an address and a link of no workspace.
    in_hub(server, "ip", "link", "add", "wdeadbeef0002", "type", "veth", "peer", "name", "xstray")
    db_path = server.state_dir / "corral.db"
    import sqlite3

    # Written while the daemon is down, and closed before it comes back.
    with contextlib.closing(sqlite3.connect(db_path)) as conn, conn:
        conn.execute("INSERT INTO addresses VALUES ('10.255.0.9', 'deadbeef0003', "
                     "'2020-01-01 00:00:00')")  # fmt: skip
        conn.execute("INSERT INTO links VALUES ('stray1', 'admin', 'deadbeef0003', ?, 1, 'tcp', "
                     "'2020-01-01 00:00:00')", (db["id"],))  # fmt: skip
    server.start()
    with server.http() as http:
        got = probe(http, app["id"], f"{db['ip']}:5432")
        assert reached(got), f"the link did not survive the crash: {got}"
        assert http.get("/v1/workspaces/" + app["id"]).json()["ip"] == app["ip"]
        for wid in (app["id"], db["id"]):
            http.delete(f"/v1/workspaces/{wid}")
    assert "deadbeef0002" not in hub_port_ids(server)
    assert not rows(server, "SELECT * FROM addresses WHERE workspace_id = 'deadbeef0003'")
    assert not rows(server, "SELECT * FROM links WHERE id = 'stray1'")


def test_create_latency_with_networking(http: httpx.Client, unique_name: str) -> None:
    """Not a pass/fail benchmark: prints what a create and a link cost on this host."""
    times = []
    for i in range(5):
        started = time.perf_counter()
        ws = http.post("/v1/workspaces", json={"name": f"{unique_name}-{i}"}).json()
        times.append((time.perf_counter() - started) * 1000)
        http.delete(f"/v1/workspaces/{ws['id']}")
    print(f"create with networking: median {sorted(times)[2]:.1f} ms")
    assert sorted(times)[2] < 5000

