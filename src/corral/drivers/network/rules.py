"""The nftables rulesets corral enforces, computed from the desired network (pure functions).

Each ruleset is a complete replacement of corral's own tables, applied as one `nft -f`
transaction: the kernel switches from the old rules to the new ones atomically, and nothing
left over from an earlier state (a stray rule, a stale set element) can survive an apply.

Hub namespace:
- `bridge corral`, prerouting: per-port anti-spoofing. A frame entering from a workspace's
  veth must carry that workspace's MAC and IPv4 address (IP and ARP alike); anything else
  (spoofed, IPv6, other ethertypes) is dropped. Stateless, as conntrack does not work in the
  bridge family here. Bridge ports are isolated, so workspaces never exchange frames
  directly: all their traffic is routed by the hub, through the filter below.
- `inet corral`, forward (default deny): established/related flows pass; a private link is
  one `ct state new` accept rule (source ip -> target ip, protocol, port); the internet is
  reachable out of `up0` only for workspaces with internet on (or only their allow-listed
  destinations), plus DNS to the configured resolvers; never this subnet, loopback,
  link-local (cloud metadata) or multicast addresses; the daemon
  (from the host end of the transit link) reaches published ports only.
- `inet corral`, input (default deny): the hub itself answers only the API relay, and only
  to workspaces with api_access.

Host namespace, `inet corral_<suffix>`: nothing from the hub reaches the host itself or any
interface but the uplink (masqueraded there); nothing reaches the hub but replies and
connections opened by root (the daemon's port proxy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from ipaddress import IPv4Network, collapse_addresses

from corral.drivers.network.base import Endpoint, Policy
from corral.drivers.network.layout import BRIDGE, HUB_UPLINK, HubLayout, mac_for, port_name

HUB_TABLE = "corral"
# Never reachable as "internet": this host's loopback, link-local (cloud metadata services),
# multicast and reserved space.
NEVER_EGRESS = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3")


def egress_network(entry: str) -> IPv4Network | None:
    """The network an egress entry names, or None when it is a domain name."""
    try:
        return IPv4Network(entry, strict=False)
    except ValueError:
        return None


def egress_domains(policy: Policy) -> set[str]:
    return {e for ep in policy.endpoints if ep.internet for e in ep.egress if not egress_network(e)}


def _set(name: str, type_: str, elements: Iterable[str], flags: str | None = None) -> list[str]:
    body = [f"\tset {name} {{", f"\t\ttype {type_}"]
    if flags:
        body.append(f"\t\tflags {flags}")
    items = sorted(set(elements))
    if items:
        body.append("\t\telements = { " + ", ".join(items) + " }")
    return [*body, "\t}"]


def _replace(family: str, table: str, body: list[str]) -> list[str]:
    # "add" first so that "delete" cannot fail: together, one atomic replacement.
    return [f"add table {family} {table}", f"delete table {family} {table}",
            f"table {family} {table} {{", *body, "}"]  # fmt: skip


def _allowed_networks(ep: Endpoint, resolved: Mapping[str, tuple[str, ...]]) -> list[IPv4Network]:
    networks = []
    for entry in ep.egress:
        network = egress_network(entry)
        if network is not None:
            networks.append(network)
        else:
            networks += [IPv4Network(ip) for ip in resolved.get(entry, ())]
    # Overlapping intervals are an error in an nftables set: merge them first.
    return list(collapse_addresses(networks))


def hub_ruleset(
    layout: HubLayout,
    policy: Policy,
    *,
    api_port: int | None,
    resolvers: tuple[str, ...] = (),
    resolved: Mapping[str, tuple[str, ...]] | None = None,
) -> str:
    resolved = resolved or {}
    eps = policy.endpoints
    ip_of = {ep.workspace_id: ep.ip for ep in eps}
    open_internet = [ep.ip for ep in eps if ep.internet and not ep.egress]
    restricted = [ep for ep in eps if ep.internet and ep.egress]
    egress = [f"{ep.ip} . {net}" for ep in restricted for net in _allowed_networks(ep, resolved)]
    published = [f"{ep.ip} . {port}" for ep in eps for port in ep.ports]
    api = [ep.ip for ep in eps if ep.api_access]
    ports = [f'"{port_name(ep.workspace_id)}" . {mac_for(ep.ip)} . {ep.ip}' for ep in eps]

    links = []
    for link in sorted(policy.links, key=lambda lk: lk.id):
        source, target = ip_of.get(link.source), ip_of.get(link.target)
        if source and target:
            links.append(f"\t\tip saddr {source} ip daddr {target} {link.protocol} dport "
                         f'{link.port} ct state new accept comment "link {link.id}"')  # fmt: skip

    never = ", ".join([str(layout.subnet), *NEVER_EGRESS])
    gw, host, br, up = layout.gateway, layout.host_ip, f'"{BRIDGE}"', f'"{HUB_UPLINK}"'
    inet = [
        *_set("internet", "ipv4_addr", open_internet),
        *_set("egress", "ipv4_addr . ipv4_addr", egress, flags="interval"),
        *_set("dns_clients", "ipv4_addr", [ep.ip for ep in eps if ep.internet]),
        *_set("resolvers", "ipv4_addr", resolvers),
        *_set("api", "ipv4_addr", api),
        *_set("published", "ipv4_addr . inet_service", published),
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy drop;",
        '\t\tiifname "lo" accept',
        "\t\tct state established,related accept",
        *([f"\t\tiifname {br} ip saddr @api ip daddr {gw} tcp dport {api_port} accept"]
          if api_port else []),  # fmt: skip
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy drop;",
        "\t\tct state established,related accept",
        "\t\tct state invalid drop",
        f"\t\tiifname {up} ip saddr {host} ip daddr . tcp dport @published ct state new accept",
        f"\t\tiifname {br} oifname {br} jump links",
        f"\t\tiifname {br} oifname {up} jump egress",
        "\t}",
        "\tchain links {",
        *links,
        "\t}",
        "\tchain egress {",
        "\t\tip saddr @dns_clients ip daddr @resolvers udp dport 53 accept",
        "\t\tip saddr @dns_clients ip daddr @resolvers tcp dport 53 accept",
        f"\t\tip daddr {{ {never} }} drop",
        "\t\tip saddr @internet accept",
        "\t\tip saddr . ip daddr @egress accept",
        "\t}",
    ]
    bridge = [
        *_set("ports", "ifname . ether_addr . ipv4_addr", ports),
        "\tchain prerouting {",
        "\t\ttype filter hook prerouting priority filter; policy drop;",
        "\t\tether type ip iifname . ether saddr . ip saddr @ports accept",
        "\t\tether type arp iifname . ether saddr . arp saddr ip @ports "
        "iifname . arp saddr ether . arp saddr ip @ports accept",
        "\t}",
    ]
    lines = [*_replace("inet", HUB_TABLE, inet), *_replace("bridge", HUB_TABLE, bridge)]
    return "\n".join(lines) + "\n"


def host_ruleset(layout: HubLayout, uplink: str | None) -> str:
    veth, subnet = f'"{layout.host_veth}"', layout.subnet
    out = f'"{uplink}"' if uplink else None
    body = [
        "\tchain input {",
        "\t\ttype filter hook input priority filter; policy accept;",
        f"\t\tiifname {veth} ct state established,related accept",
        f"\t\tiifname {veth} drop",
        "\t}",
        "\tchain forward {",
        "\t\ttype filter hook forward priority filter; policy accept;",
        *([f"\t\tiifname {veth} oifname {out} ip saddr {subnet} accept"] if out else []),
        f"\t\tiifname {veth} drop",
        f"\t\toifname {veth} ct state established,related accept",
        f"\t\toifname {veth} drop",
        "\t}",
        "\tchain output {",
        "\t\ttype filter hook output priority filter; policy accept;",
        f"\t\toifname {veth} ct state established,related accept",
        f"\t\toifname {veth} meta skuid 0 accept",
        f"\t\toifname {veth} drop",
        "\t}",
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
        *([f"\t\toifname {out} ip saddr {subnet} masquerade"] if out else []),
        "\t}",
    ]
    return "\n".join(_replace("inet", layout.host_table, body)) + "\n"


def remove_table(family: str, table: str) -> str:
    return "\n".join(_replace(family, table, [])[:2]) + "\n"
