"""Name resolution inside a workspace: the /etc/hosts and /etc/resolv.conf corral writes (pure).

A workspace sees its own name and the targets of its private links, as `<name>` and
`<name>.corral.internal`; no other workspace is named (knowing a name grants nothing, but
listing every tenant's workspaces would leak them). The files are bound read-only into the
workspace and rewritten in place when links change, so changes show up live.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path

from corral.drivers.network.base import Endpoint, Policy
from corral.drivers.network.layout import DOMAIN

_HEADER = "# managed by corral: this workspace and the targets of its private links\n"
# The second is systemd-resolved's upstream list, for hosts whose first only names its stub.
HOST_RESOLV_FILES = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")
_LOOPBACK = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def hosts_file(endpoint: Endpoint, policy: Policy) -> str:
    by_id = {ep.workspace_id: ep for ep in policy.endpoints}
    named = {endpoint.name: endpoint.ip}
    for link in policy.links:
        target = by_id.get(link.target)
        if link.source == endpoint.workspace_id and target is not None:
            named[target.name] = target.ip
    lines = [f"{ip}\t{name}.{DOMAIN} {name}\n" for name, ip in sorted(named.items())]
    return _HEADER + _LOOPBACK + "".join(lines)


def resolv_conf(nameservers: Iterable[str]) -> str:
    servers = "".join(f"nameserver {ip}\n" for ip in nameservers)
    return "# managed by corral\n" + (servers or "# no resolver configured\n")


def host_nameservers(paths: Iterable[str] = HOST_RESOLV_FILES) -> tuple[str, ...]:
    """The host's IPv4 resolvers that a workspace can use (not loopback stubs)."""
    for path in paths:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        found = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                try:
                    address = ipaddress.ip_address(parts[1])
                except ValueError:
                    continue
                if address.version == 4 and not address.is_loopback:
                    found.append(str(address))
        if found:
            return tuple(found)
    return ()
