"""The private network's pure logic: layout, nftables rulesets, flow cuts, name files, egress."""

from __future__ import annotations

import os
import socket
import struct
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from corral.drivers.network import conntrack
from corral.drivers.network.base import Endpoint, Link, Policy
from corral.drivers.network.domains import DomainCache
from corral.drivers.network.flows import Cut, revoked
from corral.drivers.network.layout import HubLayout, daemon_suffix, mac_for, parse_subnet, port_name
from corral.drivers.network.names import host_nameservers, hosts_file, resolv_conf
from corral.drivers.network.rules import host_ruleset, hub_ruleset
from corral.engine.networking import check_egress, check_spec
from corral.engine.spec import NetworkSpec
from corral.errors import InvalidSpec

LAYOUT = HubLayout(IPv4Network("10.77.5.0/24"), "abc123")
A = Endpoint("aaaaaaaaaaaa", "app", "10.77.5.2")
B = Endpoint("bbbbbbbbbbbb", "db", "10.77.5.3")
C = Endpoint("cccccccccccc", "other", "10.77.5.4")
LINK = Link("l1", A.workspace_id, B.workspace_id, 5432)


def ruleset(*endpoints: Endpoint, links: tuple[Link, ...] = (), **kwargs: object) -> str:
    return hub_ruleset(LAYOUT, Policy(endpoints, links), api_port=7777, **kwargs)  # type: ignore[arg-type]


def set_elements(text: str, name: str) -> str:
    """The elements line of one set ('' when it has none)."""
    lines = text.split(f"set {name} {{\n", 1)[1].splitlines()
    block = lines[: next(i for i, line in enumerate(lines) if line.strip() == "}")]
    return next((line.strip() for line in block if "elements" in line), "")


# -- layout -------------------------------------------------------------------------------


def test_layout_addresses() -> None:
    assert (LAYOUT.gateway, LAYOUT.host_ip, LAYOUT.hub_ip) == ("10.77.5.1", "10.77.5.253",
                                                               "10.77.5.254")  # fmt: skip
    pool = list(LAYOUT.addresses())
    assert pool[0] == "10.77.5.2" and pool[-1] == "10.77.5.251" and len(pool) == 250
    assert not {LAYOUT.gateway, LAYOUT.host_ip, LAYOUT.hub_ip} & set(pool)


def test_names_are_per_daemon_and_fit_linux_limits() -> None:
    one, two = daemon_suffix(Path("/run/corral")), daemon_suffix(Path("/run/corral-test-x"))
    assert one != two and len(one) == 6
    assert len(HubLayout(LAYOUT.subnet, one).host_veth) <= 15
    assert port_name("0123456789ab") == "w0123456789ab" and len(port_name("x" * 32)) == 15
    assert mac_for("10.77.5.2") == "02:00:0a:4d:05:02"


@pytest.mark.parametrize("bad", ["8.8.8.0/24", "10.0.0.0/30", "10.77.0.1/16", "nonsense"])
def test_bad_subnets_are_refused(bad: str) -> None:
    with pytest.raises(InvalidSpec):
        parse_subnet(bad)


# -- the hub ruleset ------------------------------------------------------------------------


def test_a_link_is_one_new_connection_rule_from_source_to_target_port() -> None:
    text = ruleset(A, B, C, links=(LINK,))
    rules = [line.strip() for line in text.splitlines() if 'comment "link' in line]
    assert rules == ['ip saddr 10.77.5.2 ip daddr 10.77.5.3 tcp dport 5432 ct state new accept '
                     'comment "link l1"']  # fmt: skip
    assert "policy drop" in text.split("chain forward {", 1)[1].split("}", 1)[0]
    forward = text.split("chain forward {", 1)[1].split("}", 1)[0]
    # Replies and established flows first; then only explicit grants.
    assert forward.index("established,related accept") < forward.index("jump links")


def test_links_with_an_end_missing_are_not_rendered() -> None:
    text = ruleset(A, links=(LINK,))
    assert 'comment "link' not in text


def test_workspaces_are_air_gapped_by_default() -> None:
    text = ruleset(A, B)
    for name in ("internet", "egress", "dns_clients", "api", "published"):
        assert set_elements(text, name) == "", name
    assert 'comment "link' not in text


def test_internet_and_egress_sets() -> None:
    open_ = Endpoint("o" * 12, "o", "10.77.5.10", internet=True)
    narrow = Endpoint("n" * 12, "n", "10.77.5.11", internet=True,
                      egress=("10.1.2.0/24", "10.1.2.7", "api.example.com"))  # fmt: skip
    ignored = Endpoint("i" * 12, "i", "10.77.5.12", egress=("10.9.0.0/16",))  # internet off
    text = ruleset(open_, narrow, ignored, resolved={"api.example.com": ("93.184.216.34",)},
                   resolvers=("10.255.255.53",))  # fmt: skip
    assert set_elements(text, "internet") == "elements = { 10.77.5.10 }"
    # Overlapping entries are merged (nftables refuses overlapping intervals).
    assert set_elements(text, "egress") == (
        "elements = { 10.77.5.11 . 10.1.2.0/24, 10.77.5.11 . 93.184.216.34/32 }"
    )
    assert set_elements(text, "dns_clients") == "elements = { 10.77.5.10, 10.77.5.11 }"
    assert "10.9.0.0" not in text and "10.77.5.12 ." not in text
    egress = text.split("chain egress {", 1)[1].split("}", 1)[0]
    assert "10.77.5.0/24" in egress and "169.254.0.0/16" in egress  # never "the internet"


def test_api_access_and_published_ports() -> None:
    api = Endpoint("a" * 12, "a", "10.77.5.20", api_access=True, ports=(8080, 9000))
    text = ruleset(api, A)
    assert set_elements(text, "api") == "elements = { 10.77.5.20 }"
    assert set_elements(text, "published") == (
        "elements = { 10.77.5.20 . 8080, 10.77.5.20 . 9000 }"
    )
    assert 'iifname "br0" ip saddr @api ip daddr 10.77.5.1 tcp dport 7777 accept' in text
    assert 'iifname "up0" ip saddr 10.77.5.253 ip daddr . tcp dport @published' in text


def test_every_port_is_pinned_to_its_mac_and_address() -> None:
    text = ruleset(A, B)
    assert set_elements(text, "ports") == (
        'elements = { "waaaaaaaaaaaa" . 02:00:0a:4d:05:02 . 10.77.5.2, '
        '"wbbbbbbbbbbbb" . 02:00:0a:4d:05:03 . 10.77.5.3 }'
    )
    bridge = text.split("table bridge corral {", 1)[1]
    assert "policy drop" in bridge and "arp saddr ether" in bridge


def test_rulesets_replace_corral_tables_atomically() -> None:
    text = ruleset(A)
    assert text.startswith("add table inet corral\ndelete table inet corral\ntable inet corral {")
    assert "add table bridge corral\ndelete table bridge corral\n" in text
    host = host_ruleset(LAYOUT, "eth0")
    assert host.startswith("add table inet corral_abc123\ndelete table inet corral_abc123\n")


def test_host_ruleset_nats_out_of_the_uplink_only() -> None:
    text = host_ruleset(LAYOUT, "eth0")
    assert 'oifname "eth0" ip saddr 10.77.5.0/24 masquerade' in text
    assert 'iifname "crlabc123" oifname "eth0" ip saddr 10.77.5.0/24 accept' in text
    assert 'iifname "crlabc123" drop' in text  # nothing else: not the host, not other links
    assert 'oifname "crlabc123" meta skuid 0 accept' in text
    no_uplink = host_ruleset(LAYOUT, None)
    assert "masquerade" not in no_uplink and "oifname \"crlabc123\" drop" in no_uplink


@pytest.mark.skipif(os.geteuid() != 0, reason="loads the rulesets into a scratch namespace")
def test_rulesets_load_into_nftables(tmp_path: Path) -> None:
    from corral.drivers.network import netns
    from corral.drivers.network.nft import Nft

    narrow = Endpoint("n" * 12, "n", "10.77.5.11", internet=True, egress=("10.1.0.0/16",),
                      ports=(80,), api_access=True)  # fmt: skip

    def load() -> str:
        netns.unshare_pinned(tmp_path / "ns")
        nft = Nft()
        nft.run(ruleset(A, B, narrow, links=(LINK,), resolvers=("10.0.0.53",)))
        nft.run(ruleset(A, links=(LINK,)))  # and replaced
        nft.run(host_ruleset(LAYOUT, "eth0"))
        return nft.run("list ruleset")

    try:
        listed = netns.in_thread(load)
    finally:
        netns.remove_netns(tmp_path / "ns")
    assert "10.77.5.11" not in listed and "waaaaaaaaaaaa" in listed and "corral_abc123" in listed


# -- flows cut when a grant is revoked ----------------------------------------------------------


def test_nothing_is_cut_when_nothing_is_revoked() -> None:
    before = Policy((A, B), ())
    assert revoked(before, Policy((A, B, C), (LINK,))) == []


def test_revoked_link_endpoint_internet_and_port() -> None:
    web = Endpoint("w" * 12, "web", "10.77.5.9", internet=True, ports=(80, 81))
    before = Policy((A, B, C, web), (LINK,))
    after = Policy((A, B, Endpoint("w" * 12, "web", "10.77.5.9", ports=(80,))), ())
    cuts = revoked(before, after)
    assert Cut("10.77.5.2", "10.77.5.3", "tcp", 5432) in cuts
    assert Cut(source="10.77.5.4") in cuts and Cut(target="10.77.5.4") in cuts
    assert Cut(source="10.77.5.9", leaving=True) in cuts
    assert Cut(target="10.77.5.9", protocol="tcp", port=81) in cuts
    assert len(cuts) == 5


def test_cut_matching() -> None:
    subnet = LAYOUT.subnet
    link = Cut("10.77.5.2", "10.77.5.3", "tcp", 5432)
    assert link.matches("10.77.5.2", "10.77.5.3", "tcp", 5432, subnet)
    assert not link.matches("10.77.5.2", "10.77.5.3", "tcp", 5433, subnet)
    leaving = Cut(source="10.77.5.9", leaving=True)
    assert leaving.matches("10.77.5.9", "93.184.216.34", "tcp", 443, subnet)
    assert not leaving.matches("10.77.5.9", "10.77.5.3", "tcp", 5432, subnet)


# -- names inside a workspace ---------------------------------------------------------------


def test_hosts_file_names_itself_and_its_link_targets_only() -> None:
    policy = Policy((A, B, C), (LINK,))
    app = hosts_file(A, policy)
    assert "10.77.5.2\tapp.corral.internal app\n" in app
    assert "10.77.5.3\tdb.corral.internal db\n" in app
    assert "other" not in app
    db = hosts_file(B, policy)  # links are directional: the target does not learn the source
    assert "app" not in db and "db.corral.internal" in db
    assert "127.0.0.1\tlocalhost" in app


def test_resolv_conf_and_host_nameservers(tmp_path: Path) -> None:
    assert resolv_conf(["10.0.0.53"]).endswith("nameserver 10.0.0.53\n")
    stub, upstream = tmp_path / "stub.conf", tmp_path / "upstream.conf"
    stub.write_text("nameserver 127.0.0.53\noptions edns0\n")
    upstream.write_text("nameserver 10.1.1.1\nnameserver ::1\nnameserver 2001:db8::1\n"
                        "nameserver 10.1.1.2\n")  # fmt: skip
    assert host_nameservers([str(stub), str(upstream)]) == ("10.1.1.1", "10.1.1.2")
    assert host_nameservers([str(stub)]) == ()


# -- egress ---------------------------------------------------------------------------------


def test_egress_entries_are_checked_and_normalised() -> None:
    assert check_egress(["10.1.2.3/24", "API.Example.com.", "1.2.3.4", "api.example.com"]) == (
        "10.1.2.0/24", "api.example.com", "1.2.3.4/32")  # fmt: skip
    for bad in ("2001:db8::/32", "not a host", "-bad.example", "999.1.1.1"):
        with pytest.raises(InvalidSpec):
            check_egress([bad])


def test_network_spec_is_normalised() -> None:
    spec = check_spec(NetworkSpec(internet=True, ports=(8080, 80, 8080), egress=("a.example",)))
    assert spec.ports == (80, 8080) and spec.egress == ("a.example",)
    with pytest.raises(InvalidSpec):
        check_spec(NetworkSpec(ports=(0,)))


def test_domain_cache_resolves_once_keeps_last_good_and_refreshes() -> None:
    answers: dict[str, tuple[str, ...] | OSError] = {"a.example": ("1.1.1.1",)}
    calls: list[str] = []

    def resolve(name: str) -> tuple[str, ...]:
        calls.append(name)
        answer = answers.get(name, OSError("NXDOMAIN"))
        if isinstance(answer, OSError):
            raise answer
        return answer

    cache = DomainCache(resolve)
    assert cache.addresses(["a.example", "b.example"]) == {"a.example": ("1.1.1.1",),
                                                          "b.example": ()}  # fmt: skip
    assert cache.addresses(["a.example"]) == {"a.example": ("1.1.1.1",)}
    assert sorted(calls) == ["a.example", "b.example"]  # each resolved once
    answers["a.example"] = OSError("SERVFAIL")
    assert cache.refresh(["a.example"]) is False  # a failure keeps what was known
    assert cache.addresses(["a.example"]) == {"a.example": ("1.1.1.1",)}
    answers["a.example"] = ("2.2.2.2",)
    assert cache.refresh(["a.example"]) is True
    assert cache.addresses(["a.example"]) == {"a.example": ("2.2.2.2",)}


# -- conntrack messages -----------------------------------------------------------------------


def _attr(kind: int, payload: bytes, nested: bool = False) -> bytes:
    length = 4 + len(payload)
    pad = b"\0" * ((4 - length % 4) % 4)
    return struct.pack("=HH", length, kind | (0x8000 if nested else 0)) + payload + pad


def test_conntrack_flow_parsing() -> None:
    ip = _attr(1, _attr(1, socket.inet_aton("10.77.5.2")) + _attr(2, socket.inet_aton("10.77.5.3")),
               nested=True)  # fmt: skip
    proto = _attr(2, _attr(1, bytes([6])) + _attr(2, struct.pack("!H", 40000))
                  + _attr(3, struct.pack("!H", 5432)), nested=True)  # fmt: skip
    tuple_orig = _attr(1, ip + proto, nested=True)
    payload = struct.pack("=BBH", socket.AF_INET, 0, 0) + tuple_orig + _attr(3, b"\0" * 4)
    flow = conntrack._parse(payload)
    assert flow == conntrack.Flow("10.77.5.2", "10.77.5.3", 6, 5432, tuple_orig)
