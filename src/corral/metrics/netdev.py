"""A workspace's network traffic, from its network namespace's interface counters.

`/proc/<pid>/net/dev` of any process inside the workspace lists the interfaces of the
workspace's own network namespace, whatever connects it (a veth into the hub, or nothing
but loopback). Loopback is the workspace talking to itself, so it is not counted.
"""

from __future__ import annotations

from corral.metrics.cgroup import read_bytes


def parse_net_dev(data: bytes) -> tuple[int, int]:
    """Received and transmitted bytes summed over every interface but loopback."""
    rx = tx = 0
    for line in data.splitlines()[2:]:  # two header lines
        name, sep, counters = line.partition(b":")
        if not sep or name.strip() == b"lo":
            continue
        fields = counters.split()
        if len(fields) >= 9:
            rx += int(fields[0])
            tx += int(fields[8])
    return rx, tx


def read_net_dev(pid: int) -> tuple[int, int] | None:
    """(rx, tx) bytes of the namespace `pid` lives in; None when the process is gone."""
    data = read_bytes(f"/proc/{pid}/net/dev")
    return parse_net_dev(data) if data is not None else None
