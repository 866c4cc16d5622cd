"""Internet access through NAT, live toggling, egress allow-lists, DNS: against a fake internet.

The "internet" is a network namespace made by this module: a veth from the host into it, two
web servers ("sites") and a DNS server answering for `example.test`. A daemon of its own uses
that veth as its uplink and that DNS server as its resolver, so no packet of these tests can
leave the host (the daemon also drops anything from its workspaces headed for any interface
but its uplink).
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from pyroute2 import IPRoute
from tests.conftest import Daemon, free_subnet, side_daemon
from tests.integration.network_probes import host_listener, ok, probe, probe_in, reached, run

from corral.drivers.network.netns import create_netns, remove_netns

pytestmark = pytest.mark.integration

# Two web sites and a DNS server: example.test -> site a, other.test -> site b.
INTERNET = r"""
import http.server, socket, struct, sys, threading
a, b = sys.argv[1], sys.argv[2]
class Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"site {self.server.server_address[0]} saw {self.client_address[0]}".encode()
        self.send_response(200); self.send_header("content-length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
for ip in (a, b):
    server = http.server.ThreadingHTTPServer((ip, 80), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
names = {b"example.test": a, b"other.test": b}
dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); dns.bind((a, 53))
print("ready", flush=True)
while True:
    query, peer = dns.recvfrom(512)
    labels, i = [], 12
    while query[i]:
        labels.append(query[i + 1:i + 1 + query[i]]); i += 1 + query[i]
    question = query[12:i + 5]
    address = names.get(b".".join(labels).lower())
    flags, answers = (0x8180, 1) if address else (0x8183, 0)
    reply = query[:2] + struct.pack("!HHHHH", flags, 1, answers, 0, 0) + question
    if address:
        reply += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(address)
    dns.sendto(reply, peer)
"""

FETCH = r"""
import socket, sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())
except Exception as exc:
    print("fail", type(exc).__name__, getattr(exc, "reason", ""))
"""


@dataclass
class Internet:
    netns: Path
    uplink: str  # the host's end of the veth
    host_ip: str  # the host's address on it (what NAT rewrites workspaces' sources to)
    site_a: str
    site_b: str


@pytest.fixture(scope="module")
def internet() -> Iterator[Internet]:
    subnet = ipaddress.ip_network(free_subnet())
    host_ip, site_a, site_b = (str(subnet[n]) for n in (1, 2, 3))
    uplink = f"ti{secrets.token_hex(4)}"
    base = Path(tempfile.mkdtemp(prefix="corral-internet-"))
    ns = base / "netns"
    create_netns(ns)
    server = None
    try:
        fd = os.open(ns, os.O_RDONLY)
        try:
            with IPRoute() as ipr:
                ipr.link("add", ifname=uplink, kind="veth",
                         peer={"ifname": "eth0", "net_ns_fd": fd})  # fmt: skip
                index = ipr.link_lookup(ifname=uplink)[0]
                ipr.addr("add", index=index, address=host_ip, prefixlen=subnet.prefixlen)
                ipr.link("set", index=index, state="up")
        finally:
            os.close(fd)
        for argv in (["ip", "addr", "add", f"{site_a}/{subnet.prefixlen}", "dev", "eth0"],
                     ["ip", "addr", "add", f"{site_b}/{subnet.prefixlen}", "dev", "eth0"],
                     ["ip", "link", "set", "eth0", "up"]):  # fmt: skip
            subprocess.run(["nsenter", f"--net={ns}", *argv], check=True)
        server = subprocess.Popen(["nsenter", f"--net={ns}", "python3", "-c", INTERNET, site_a,
                                   site_b], stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        # Safety: the host routes the fake internet into its namespace, not anywhere else.
        route = subprocess.run(["ip", "route", "get", site_a], capture_output=True,
                               text=True).stdout  # fmt: skip
        assert f"dev {uplink} " in route, route
        yield Internet(ns, uplink, host_ip, site_a, site_b)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=uplink):
                ipr.link("del", index=index)
        remove_netns(ns)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def daemon(server: Daemon, internet: Internet) -> Iterator[Daemon]:
    """A daemon whose uplink is the fake internet."""
    with side_daemon(server, "internet", CORRAL_UPLINK=internet.uplink,
                     CORRAL_DNS=internet.site_a) as daemon:  # fmt: skip
        yield daemon


@pytest.fixture
def http(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.http() as client:
        yield client


def make(http: httpx.Client, name: str, **spec: object) -> dict:
    response = http.post("/v1/workspaces", json={"name": f"{name}-{secrets.token_hex(3)}", **spec})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def fetch(http: httpx.Client, wid: str, url: str, timeout: float = 2) -> str:
    return ok(http, wid, ["python3", "-c", FETCH, url, str(timeout)]).strip()


def test_internet_on_reaches_it_by_name_through_nat(http: httpx.Client, internet: Internet
                                                    ) -> None:  # fmt: skip
    online = make(http, "online", internet=True)
    offline = make(http, "offline")
    assert online["internet"] is True and offline["internet"] is False
    # DNS through the configured resolver, then HTTP; the site sees the host's address (NAT).
    assert fetch(http, online["id"], "http://example.test/") == (
        f"site {internet.site_a} saw {internet.host_ip}")  # fmt: skip
    assert ok(http, online["id"], "cat /etc/resolv.conf").split()[-1] == internet.site_a
    assert fetch(http, offline["id"], "http://example.test/").startswith("fail")
    assert fetch(http, offline["id"], f"http://{internet.site_a}/").startswith("fail")
    # The internet is not a way to other workspaces.
    assert not reached(probe(http, online["id"], f"{offline['ip']}:22"))


def test_internet_is_switched_live(http: httpx.Client, internet: Internet) -> None:
    ws = make(http, "toggled")
    site = f"http://{internet.site_a}/"
    assert fetch(http, ws["id"], site).startswith("fail")
    assert "default" not in ok(http, ws["id"], "ip route show")  # air-gapped: no route out
    on = http.post(f"/v1/workspaces/{ws['id']}/network", json={"internet": True})
    assert on.status_code == 200 and on.json()["internet"] is True
    assert fetch(http, ws["id"], site).startswith("site ")
    assert "default via" in ok(http, ws["id"], "ip route show")
    off = http.post(f"/v1/workspaces/{ws['id']}/network", json={"internet": False})
    assert off.json()["internet"] is False
    assert fetch(http, ws["id"], site).startswith("fail")
    assert "default" not in ok(http, ws["id"], "ip route show")


def test_egress_allow_list(http: httpx.Client, internet: Internet) -> None:
    ws = make(http, "narrow", egress=[f"{internet.site_a}/32"])
    assert ws["internet"] is True and ws["egress"] == [f"{internet.site_a}/32"]
    assert fetch(http, ws["id"], "http://example.test/").startswith("site ")  # DNS still works
    assert fetch(http, ws["id"], f"http://{internet.site_b}/").startswith("fail")
    widened = http.post(f"/v1/workspaces/{ws['id']}/network", json={"egress": []})
    assert widened.json()["egress"] == []
    assert fetch(http, ws["id"], f"http://{internet.site_b}/").startswith("site ")


def test_internet_does_not_reach_the_host_or_the_daemon(
    http: httpx.Client, daemon: Daemon, internet: Internet
) -> None:
    ws = make(http, "prober", internet=True)
    subnet = ipaddress.ip_network(daemon.subnet)
    with host_listener() as (port, peers):
        # Control: the listener answers on the host's uplink address (from the internet side).
        assert reached(probe_in(internet.netns, f"{internet.host_ip}:{port}"))
        got = probe(http, ws["id"], f"{internet.host_ip}:{port}", f"{subnet[-3]}:{port}",
                    f"{subnet[1]}:{daemon.port}", f"{internet.host_ip}:{daemon.port}")  # fmt: skip
    assert not reached(got), got
    assert peers == [internet.site_a], peers  # only the control connection


def test_workspace_network_settings_are_listed(http: httpx.Client) -> None:
    # (No domain names here: the daemon would resolve them with the host's resolver.)
    ws = make(http, "listed", internet=True, egress=["10.9.0.0/16", "10.8.1.1"], ports=[8000])
    got = http.get(f"/v1/workspaces/{ws['id']}").json()
    assert (got["internet"], got["egress"], got["ports"]) == (
        True, ["10.9.0.0/16", "10.8.1.1/32"], [8000])  # fmt: skip
    assert json.loads(json.dumps(got))["ip"] == ws["ip"]
    assert run(http, ws["id"], "true")["exit_code"] == 0


def test_warm_sandboxes_are_claimed_with_internet_switched_on(
    server: Daemon, internet: Internet
) -> None:
    """A create asking for internet (or an egress allow-list) is served from the warm pool,
    and the pooled sandbox's access is in force when the create returns; one that does not
    ask stays air-gapped."""
    with side_daemon(server, "inetpool", CORRAL_UPLINK=internet.uplink,
                     CORRAL_DNS=internet.site_a, CORRAL_WARM_POOL="host=3") as daemon:  # fmt: skip
        with daemon.http() as http:

            def pool() -> dict:
                return http.get("/v1/admin/pools").json()  # type: ignore[no-any-return]

            deadline = time.monotonic() + 60
            while pool()["pools"][0]["ready"] < 3:
                assert time.monotonic() < deadline, pool()
                time.sleep(0.2)
            before = pool()["claims"]
            online = make(http, "warm-online", internet=True)
            narrow = make(http, "warm-narrow", egress=[f"{internet.site_a}/32"])
            offline = make(http, "warm-offline")
            assert pool()["claims"] == before + 3
            assert fetch(http, online["id"], "http://example.test/").startswith("site ")
            assert "default via" in ok(http, online["id"], "ip route show")
            assert fetch(http, narrow["id"], f"http://{internet.site_a}/").startswith("site ")
            assert fetch(http, narrow["id"], f"http://{internet.site_b}/").startswith("fail")
            assert fetch(http, offline["id"], f"http://{internet.site_a}/").startswith("fail")
            for ws in (online, narrow, offline):
                http.delete(f"/v1/workspaces/{ws['id']}")
            http.put("/v1/admin/pools/host", json={"size": 0})
            while pool()["pools"][0]["ready"]:
                assert time.monotonic() < deadline + 60
                time.sleep(0.2)
