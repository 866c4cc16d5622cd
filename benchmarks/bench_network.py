"""Issue 4 benchmark: the private network.

Side by side in one run:
- set-up cost per workspace: the network driver alone (namespace, veth, address, hub port;
  then the policy apply, then the teardown), and whole creates through the API;
- TCP round-trip latency and throughput across a private link (veth -> hub bridge ->
  routed, nftables-filtered -> veth) against a raw veth pair between two namespaces;
- how long a new link takes to be in force: `POST /v1/links` returns once the rule is in
  the kernel; `apply` is the driver's share of that.

Run: `.venv/bin/python benchmarks/bench_network.py [--runs 30]` (as root).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from harness import Sample, daemon, free_subnet, print_table
from pyroute2 import IPRoute

from corral.drivers.network.base import Endpoint, Link, Policy
from corral.drivers.network.bridge import BridgeNetwork, remove_hub
from corral.drivers.network.netns import create_netns, remove_netns

PORT = 5001
THROUGHPUT_MIB = 256
ROUND_TRIPS = 2000

SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
print("ready", flush=True)
while True:
    conn, _ = s.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mode = conn.recv(1)
    if mode == b"r":
        while data := conn.recv(1):
            conn.sendall(data)
    else:
        while conn.recv(1 << 20):
            pass
        conn.sendall(b"done")
    conn.close()
"""

CLIENT = r"""
import json, socket, sys, time
host, port, mode, amount = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.create_connection((host, port), timeout=10)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if mode == "rtt":
    s.sendall(b"r"); times = []
    for _ in range(amount):
        t = time.perf_counter(); s.sendall(b"x"); s.recv(1)
        times.append((time.perf_counter() - t) * 1000)
    print(json.dumps(times))
else:
    chunk = b"\0" * (1 << 16); t = time.perf_counter()
    s.sendall(b"t")
    for _ in range(amount * 16):
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR); s.recv(4)
    print(json.dumps(amount / (time.perf_counter() - t)))
"""


def in_ns(netns: Path, *argv: str) -> list[str]:
    return ["nsenter", f"--net={netns}", *argv]


def tcp(server_ns: Path, client_ns: Path, address: str) -> tuple[list[float], float]:
    """Round-trip times (ms) and throughput (MiB/s) from client_ns to address:PORT."""
    server = subprocess.Popen(in_ns(server_ns, "python3", "-c", SERVER, "0.0.0.0", str(PORT)),
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"

        def client(mode: str, amount: int) -> object:
            out = subprocess.run(in_ns(client_ns, "python3", "-c", CLIENT, address, str(PORT),
                                       mode, str(amount)), capture_output=True, text=True,
                                 check=True).stdout  # fmt: skip
            return json.loads(out)

        rtts = client("rtt", ROUND_TRIPS)
        rates = [client("throughput", THROUGHPUT_MIB) for _ in range(3)]
        return rtts, max(rates)  # type: ignore[return-value,type-var]
    finally:
        server.kill()
        server.wait()


def raw_veth_pair(work: Path) -> tuple[Path, Path, str]:
    """Two namespaces joined by a bare veth pair: the floor for the private link."""
    subnet = ipaddress.ip_network(free_subnet())
    one, two = work / "raw-1", work / "raw-2"
    create_netns(one)
    create_netns(two)
    fds = [os.open(p, os.O_RDONLY) for p in (one, two)]
    try:
        with IPRoute() as ipr:
            name = f"rb{os.getpid() % 100000}"
            ipr.link("add", ifname=name, kind="veth", net_ns_fd=fds[0],
                     peer={"ifname": "peer", "net_ns_fd": fds[1]})  # fmt: skip
    finally:
        for fd in fds:
            os.close(fd)
    for ns, ifname, address in ((one, name, subnet[1]), (two, "peer", subnet[2])):
        subprocess.run(in_ns(ns, "ip", "addr", "add", f"{address}/24", "dev", ifname), check=True)
        subprocess.run(in_ns(ns, "ip", "link", "set", ifname, "up"), check=True)
    return one, two, str(subnet[2])


def driver_costs(runs: int, work: Path) -> tuple[list[Sample], tuple[list[float], float]]:
    run_dir = Path(f"/run/corral-bench-net-{work.name}")
    network = BridgeNetwork(run_dir, free_subnet(), nameservers=())
    network.prepare()
    try:
        pool = network.addresses()
        endpoints: list[Endpoint] = []
        attach, apply, detach = [], [], []
        for i in range(runs):
            endpoint = Endpoint(f"bench{i:07d}", f"b{i}", next(pool))
            started = time.perf_counter()
            network.attach(endpoint)
            attach.append((time.perf_counter() - started) * 1000)
            endpoints.append(endpoint)
            started = time.perf_counter()
            network.apply(Policy(tuple(endpoints)))
            apply.append((time.perf_counter() - started) * 1000)
        a, b = endpoints[0], endpoints[1]
        network.apply(Policy(tuple(endpoints), (Link("bench", a.workspace_id, b.workspace_id,
                                                      PORT),)))  # fmt: skip
        link = tcp(network.netns_dir / b.workspace_id, network.netns_dir / a.workspace_id, b.ip)
        for endpoint in endpoints:
            started = time.perf_counter()
            network.detach(endpoint.workspace_id)
            detach.append((time.perf_counter() - started) * 1000)
        network.apply(Policy())
    finally:
        network.close()
        remove_hub(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    return [Sample("driver: attach (netns + veth + address + hub port)", attach),
            Sample(f"driver: apply the policy (1..{runs} workspaces)", apply),
            Sample("driver: detach", detach)], link  # fmt: skip


def api_costs(runs: int) -> list[Sample]:
    with daemon() as d, httpx.Client(base_url=d.url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {d.api_key}"

        def create(name: str, **spec: object) -> dict:
            response = http.post("/v1/workspaces", json={"name": name, **spec})
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        plain, linked, link_add, link_delete = [], [], [], []
        target = create("target")
        for i in range(runs):
            started = time.perf_counter()
            ws = create(f"plain-{i}")
            plain.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            created = http.post("/v1/links", json={"from": ws["id"], "to": target["id"],
                                                   "port": PORT})  # fmt: skip
            link_add.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            http.delete(f"/v1/links/{created.json()['id']}")
            link_delete.append((time.perf_counter() - started) * 1000)
            http.delete(f"/v1/workspaces/{ws['id']}")
            started = time.perf_counter()
            ws = create(f"linked-{i}", links=[{"to": "target", "port": PORT}], internet=False)
            linked.append((time.perf_counter() - started) * 1000)
            http.delete(f"/v1/workspaces/{ws['id']}")
    return [Sample("API: create a workspace", plain),
            Sample("API: create a workspace with a link", linked),
            Sample("API: POST /v1/links (in force on return)", link_add),
            Sample("API: DELETE /v1/links/{id}", link_delete)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="corral-bench-net-"))
    try:
        samples, (link_rtt, link_rate) = driver_costs(args.runs, work)
        one, two, address = raw_veth_pair(work)
        try:
            raw_rtt, raw_rate = tcp(two, one, address)
        finally:
            remove_netns(one)
            remove_netns(two)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    samples += api_costs(args.runs)
    print_table("network set-up and links", samples)
    print_table("TCP round trip (1 byte, TCP_NODELAY)",
                [Sample("raw veth pair", raw_rtt), Sample("private link", link_rtt)],
                reference="raw veth pair")  # fmt: skip
    print(f"TCP throughput (best of 3 x {THROUGHPUT_MIB} MiB): raw veth pair {raw_rate:.0f} MiB/s,"
          f" private link {link_rate:.0f} MiB/s ({link_rate / raw_rate:.2f}x)")


if __name__ == "__main__":
    main()
