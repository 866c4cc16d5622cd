"""Probes for the network tests: TCP servers and clients run inside workspaces (through exec)
or inside namespaces the tests made, and host-side views of a daemon's hub.

Tests only ever send traffic to addresses inside namespaces they created, or loopback.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import Daemon

# Answers every connection with "<banner>:<port>" and records who connected (peers file).
SERVER = r"""
import socket, sys, threading, time
banner, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    open(f"/tmp/ready-{port}", "w").close()
    while True:
        conn, peer = s.accept()
        with open(f"/tmp/peers-{port}", "a") as f:
            f.write(peer[0] + "\n")
        conn.sendall(f"{banner}:{port}".encode())
        time.sleep(0.05)
        conn.close()
for port in ports:
    threading.Thread(target=serve, args=(port,), daemon=True).start()
time.sleep(3600)
"""

# Tries every target at once; prints {target: "ok:<what the server said>" | "fail:<error>"}.
CLIENT = r"""
import json, socket, sys, threading
timeout, targets, result = float(sys.argv[1]), sys.argv[2:], {}
def probe(target):
    host, port = target.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.settimeout(timeout)
            result[target] = "ok:" + s.recv(100).decode()
    except OSError as exc:
        result[target] = f"fail:{type(exc).__name__}"
threads = [threading.Thread(target=probe, args=(t,)) for t in targets]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(result))
"""


def run(http: httpx.Client, wid: str, command: str | list[str], timeout: float = 30) -> dict:
    response = http.post(f"/v1/workspaces/{wid}/exec",
                         json={"command": command, "timeout": timeout})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def ok(http: httpx.Client, wid: str, command: str | list[str]) -> str:
    result = run(http, wid, command)
    assert result["exit_code"] == 0, result
    return str(result["stdout"])


def serve(http: httpx.Client, wid: str, *ports: int, banner: str = "hello") -> None:
    """Start TCP servers on `ports` inside the workspace; return once they listen."""
    args = " ".join(str(p) for p in ports)
    run(http, wid, ["sh", "-c", f'nohup python3 -c "$0" {banner} {args} >/dev/null 2>&1 &',
                    SERVER])  # fmt: skip
    waits = " && ".join(f"test -e /tmp/ready-{p}" for p in ports)
    ok(http, wid, f"for i in $(seq 200); do {waits} && exit 0; sleep 0.02; done; exit 1")


def probe(http: httpx.Client, wid: str, *targets: str, timeout: float = 1.0) -> dict[str, str]:
    """Connect from inside the workspace to each `host:port`."""
    out = ok(http, wid, ["python3", "-c", CLIENT, str(timeout), *targets])
    return json.loads(out)  # type: ignore[no-any-return]


def probe_in(netns: Path, *targets: str, timeout: float = 1.0, bind: str | None = None
             ) -> dict[str, str]:  # fmt: skip
    """The same probe run by root in a namespace (e.g. a workspace's, to play an attacker)."""
    client = CLIENT
    if bind:  # a chosen source address (one the namespace was given by hand)
        client = client.replace("socket.create_connection((host, int(port)), timeout=timeout)",
                                f"socket.create_connection((host, int(port)), timeout=timeout, "
                                f"source_address=({bind!r}, 0))")  # fmt: skip
    out = subprocess.run(["nsenter", f"--net={netns}", "python3", "-c", client, str(timeout),
                          *targets], capture_output=True, text=True, check=True).stdout  # fmt: skip
    return json.loads(out)  # type: ignore[no-any-return]


def reached(results: dict[str, str]) -> set[str]:
    return {target for target, outcome in results.items() if outcome.startswith("ok:")}


def wait_until(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


# -- host-side views of a daemon's network --------------------------------------------------


def hub(daemon: Daemon) -> Path:
    return daemon.run_dir / "hub.netns"


def in_hub(daemon: Daemon, *argv: str) -> str:
    return subprocess.run(["nsenter", f"--net={hub(daemon)}", *argv], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip


def workspace_netns(daemon: Daemon, wid: str) -> Path:
    return daemon.run_dir / "netns" / wid


def rows(daemon: Daemon, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Read the daemon's database (SQLite in WAL mode: safe while it runs)."""
    return daemon.query(sql, *args)


@contextmanager
def host_listener(address: str = "0.0.0.0") -> Iterator[tuple[int, list[str]]]:
    """A TCP listener on the host (its own addresses: no traffic leaves it) that records the
    address of every peer it accepts; yields its port and that list."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[str] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, peer = listener.accept()
            except TimeoutError:
                continue
            accepted.append(peer[0])
            conn.close()

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        done.set()
        thread.join()
        listener.close()
