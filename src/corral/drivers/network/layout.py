"""Where everything of one daemon's private network lives: names and addresses (pure).

One daemon = one hub network namespace, holding a bridge `br0` (the workspaces' gateway) and
`up0`, one end of a veth pair whose other end sits in the host's namespace. Everything in the
hub is private to the daemon; what is visible on the host (that veth, the route to the subnet,
an nftables table) carries a suffix derived from the daemon's run directory, so two daemons on
one host (two test sessions, say) never touch each other's objects. Their subnets must differ.

Addresses, for a subnet S: S[1] is the gateway on br0; the last /30 of S is the hub-host
transit link (host end S[-3], hub end S[-2]); workspaces get S[2] .. S[-5].
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from corral.errors import InvalidSpec

BRIDGE = "br0"
HUB_UPLINK = "up0"
PORT_PREFIX = "w"  # + workspace id: a workspace's veth end in the hub
DOMAIN = "corral.internal"
MAX_PREFIX = 28  # the gateway, the transit /30 and some workspaces must fit
TRANSIT_PREFIX = 30


def parse_subnet(text: str) -> IPv4Network:
    try:
        subnet = IPv4Network(text.strip(), strict=True)
    except ValueError as exc:
        raise InvalidSpec(f"bad subnet {text!r}: {exc}", hint="e.g. 10.77.0.0/16") from None
    if subnet.prefixlen > MAX_PREFIX or not subnet.is_private:
        raise InvalidSpec(f"subnet {subnet} must be a private IPv4 range of /{MAX_PREFIX} or more")
    return subnet


def daemon_suffix(run_dir: Path) -> str:
    return hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:6]


def host_veth(suffix: str) -> str:
    return f"crl{suffix}"


def host_table(suffix: str) -> str:
    return f"corral_{suffix}"


def port_name(workspace_id: str) -> str:
    """The hub end of a workspace's veth (15 characters at most, as Linux requires)."""
    return f"{PORT_PREFIX}{workspace_id}"[:15]


def mac_for(ip: str) -> str:
    """A locally administered MAC derived from the address: unique while the address is."""
    return "02:00:" + ":".join(f"{b:02x}" for b in IPv4Address(ip).packed)


@dataclass(frozen=True)
class HubLayout:
    subnet: IPv4Network
    suffix: str

    @classmethod
    def for_daemon(cls, run_dir: Path, subnet: str) -> HubLayout:
        return cls(parse_subnet(subnet), daemon_suffix(run_dir))

    @property
    def gateway(self) -> str:
        return str(self.subnet[1])

    @property
    def host_ip(self) -> str:
        return str(self.subnet[-3])

    @property
    def hub_ip(self) -> str:
        return str(self.subnet[-2])

    @property
    def host_veth(self) -> str:
        return host_veth(self.suffix)

    @property
    def host_table(self) -> str:
        return host_table(self.suffix)

    def addresses(self) -> Iterator[str]:
        first, last = int(self.subnet[2]), int(self.subnet[-5])
        return (str(IPv4Address(n)) for n in range(first, last + 1))
