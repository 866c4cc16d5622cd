"""Which tracked connections must end when a policy takes a permission away (pure).

The filter accepts packets of established flows before looking at any grant, so removing a
link's rule alone would only stop *new* connections. Revoking a link, internet access,
a published port or a whole workspace therefore also deletes the matching conntrack
entries: the flows' next packets meet the new rules and are dropped. Flows that are still
allowed survive a cut (their next packet is tracked afresh and accepted again).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from corral.drivers.network.base import Endpoint, Policy


@dataclass(frozen=True)
class Cut:
    source: str | None = None
    target: str | None = None
    protocol: str | None = None
    port: int | None = None
    leaving: bool = False  # only flows to destinations outside the subnet

    def matches(
        self, source: str, target: str, protocol: str, port: int | None, subnet: IPv4Network
    ) -> bool:
        return (
            self.source in (None, source)
            and self.target in (None, target)
            and self.protocol in (None, protocol)
            and self.port in (None, port)
            and not (self.leaving and IPv4Address(target) in subnet)
        )


def _grants_internet(ep: Endpoint) -> tuple[bool, tuple[str, ...]]:
    return ep.internet, tuple(sorted(ep.egress)) if ep.internet else ()


def revoked(old: Policy, new: Policy) -> list[Cut]:
    cuts: list[Cut] = []
    ip_old = {ep.workspace_id: ep.ip for ep in old.endpoints}
    ip_new = {ep.workspace_id: ep.ip for ep in new.endpoints}

    def key(policy: Policy, ips: dict[str, str]) -> set[tuple[str, str, str, int]]:
        return {(ips[lk.source], ips[lk.target], lk.protocol, lk.port) for lk in policy.links
                if lk.source in ips and lk.target in ips}  # fmt: skip

    for source, target, protocol, port in sorted(key(old, ip_old) - key(new, ip_new)):
        cuts.append(Cut(source, target, protocol, port))
    now = {ep.workspace_id: ep for ep in new.endpoints}
    for before in old.endpoints:
        after = now.get(before.workspace_id)
        if after is None or after.ip != before.ip:
            cuts += [Cut(source=before.ip), Cut(target=before.ip)]
            continue
        if before.internet and _grants_internet(before) != _grants_internet(after):
            cuts.append(Cut(source=before.ip, leaving=True))
        for port in sorted(set(before.ports) - set(after.ports)):
            cuts.append(Cut(target=before.ip, protocol="tcp", port=port))
    return cuts
