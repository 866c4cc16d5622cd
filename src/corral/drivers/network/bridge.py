"""Private networking on a hub bridge: one veth per workspace, nftables as the policy.

Topology (see `layout` for names and addresses):

    workspace netns          hub netns (one per daemon)             host netns
    eth0 10.77.0.2/32 ---veth--- w<id> (isolated port)
                                 br0 10.77.0.1 (gateway)
                                 up0 ---------------veth---------- crl<suffix> -> uplink (NAT)

A workspace has a /32 address and a route to the subnet through the gateway (plus a default
route when it has internet: air-gapped, it has no route out at all), and bridge ports are
isolated, so every packet between workspaces is routed by the hub and passes its `inet`
forward filter (`rules`). The hub and the workspace namespaces outlive the daemon (they are
pinned by bind mounts under the run directory), so a restarted daemon re-adopts them and
running workspaces keep their network throughout.

Netlink work happens in namespace-bound threads: one long-lived worker inside the hub (it
also owns the hub's nftables context) and a short-lived thread per workspace set-up.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from corral.drivers.network import conntrack, netns
from corral.drivers.network.base import Attachment, Endpoint, Policy
from corral.drivers.network.domains import DomainCache
from corral.drivers.network.flows import Cut, revoked
from corral.drivers.network.layout import (
    BRIDGE,
    HUB_UPLINK,
    PORT_PREFIX,
    TRANSIT_PREFIX,
    HubLayout,
    daemon_suffix,
    host_table,
    host_veth,
    mac_for,
    port_name,
)
from corral.drivers.network.names import host_nameservers, hosts_file, resolv_conf
from corral.drivers.network.nft import Nft
from corral.drivers.network.relay import Relay
from corral.drivers.network.rules import egress_domains, host_ruleset, hub_ruleset, remove_table
from corral.drivers.runtime.base import Mount
from corral.errors import RuntimeFailure

log = logging.getLogger("corral.network")

RT_SCOPE_LINK = 253
WORKSPACE_IFNAME = "eth0"
HUB_SYSCTLS = {
    "net/ipv4/ip_forward": 1,
    # The hub routes between ports of one bridge: it must not tell workspaces to go direct.
    "net/ipv4/conf/all/send_redirects": 0,
    "net/ipv4/conf/default/send_redirects": 0,
    "net/ipv6/conf/all/disable_ipv6": 1,
    "net/ipv6/conf/default/disable_ipv6": 1,
}
# Only where br_netfilter is loaded: keep bridged frames out of the inet hooks.
HUB_OPTIONAL_SYSCTLS = {
    "net/bridge/bridge-nf-call-iptables": 0,
    "net/bridge/bridge-nf-call-ip6tables": 0,
    "net/bridge/bridge-nf-call-arptables": 0,
}
WORKSPACE_SYSCTLS = {"net/ipv6/conf/all/disable_ipv6": 1, "net/ipv6/conf/default/disable_ipv6": 1}
PROTOCOLS = {socket.IPPROTO_TCP: "tcp", socket.IPPROTO_UDP: "udp"}


def _ignore_exists(call: Any, *args: Any, **kwargs: Any) -> None:
    try:
        call(*args, **kwargs)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def _index(ipr: IPRoute, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def _write_in_place(path: Path, text: str) -> None:
    # Same inode: the file is bind-mounted into a running workspace, a rename would not show.
    with open(path, "a+") as f:
        f.seek(0)
        f.truncate()
        f.write(text)


def _default_uplink() -> str | None:
    with IPRoute() as ipr:
        for route in ipr.get_default_routes(family=socket.AF_INET):
            oif = route.get_attr("RTA_OIF")
            links = ipr.get_links(oif) if oif else []
            if links:
                return str(links[0].get_attr("IFLA_IFNAME"))
    return None


class BridgeNetwork:
    def __init__(
        self,
        run_dir: Path,
        subnet: str,
        *,
        uplink: str | None = None,
        nameservers: tuple[str, ...] | None = None,
        api: tuple[str, int] | None = None,
        refresh_s: float = 60.0,
    ) -> None:
        self.layout = HubLayout.for_daemon(run_dir, subnet)
        self.hub_path = run_dir / "hub.netns"
        self.netns_dir = run_dir / "netns"
        self.files_dir = run_dir / "net"
        self.uplink = uplink
        self.nameservers = host_nameservers() if nameservers is None else nameservers
        self.api = api
        self.api_url = f"http://{self.layout.gateway}:{api[1]}" if api else None
        self.refresh_s = refresh_s
        self._worker: netns.Worker | None = None
        # Slow chores, off the hot path: cutting revoked flows (it lists the host-wide
        # conntrack table, ~10 ms) and deleting veths (~25 ms).
        self._background: netns.Worker | None = None
        self._cuts: list[Cut] = []  # waiting for the cutter; one listing serves them all
        self._unporting: set[str] = set()  # hub ends waiting to be deleted
        self._chores_lock = threading.Lock()  # guards both
        self._relay: Relay | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one apply at a time; guards the fields below
        self._policy = Policy()
        self._ruleset: str | None = None
        self._domains = DomainCache()
        self._forwarding = False
        self._written: dict[Path, str] = {}  # name files' contents, to skip unchanged ones
        self._routed: dict[str, bool] = {}  # whether a workspace has a default route
        # Netlink handles of the hub's threads (each thread its own).
        self._hub_local = threading.local()

    # -- the hub ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Make (or re-adopt) the hub and its link to the host; start the API relay."""
        for directory in (self.netns_dir, self.files_dir):
            directory.mkdir(parents=True, exist_ok=True)
        if self.uplink is None:
            self.uplink = _default_uplink()
            if self.uplink is None:
                log.warning("no default route: workspaces with internet on reach nothing")
        self._check_subnet_free()
        fresh = not netns.is_netns(self.hub_path)
        if fresh:
            netns.create_netns(self.hub_path)
        self._worker = netns.Worker(self.hub_path, "hub")
        self._background = netns.Worker(self.hub_path, "hub-background")
        self._link_host_to_hub()
        self._worker.call(self._hub_setup)
        netns.in_thread(lambda: Nft().run(host_ruleset(self.layout, self.uplink)))
        if fresh:  # deny everything until the engine applies its policy
            self.apply(Policy())
        if self.api:
            self._start_relay(*self.api)
        threading.Thread(target=self._refresh_loop, name="egress-refresh", daemon=True).start()

    def close(self) -> None:
        """Stop the daemon-side helpers; the hub and workspaces stay up."""
        self._stop.set()
        if self._relay:
            self._relay.close()
        for worker in (self._worker, self._background):
            if worker:
                worker.close()

    def _check_subnet_free(self) -> None:
        with IPRoute() as ipr:
            ours = _index(ipr, self.layout.host_veth)
            for route in ipr.get_routes(family=socket.AF_INET, table=254):
                dst = route.get_attr("RTA_DST")
                if dst is None or route.get_attr("RTA_OIF") == ours:
                    continue
                if self.layout.subnet.overlaps(IPv4Network(f"{dst}/{route['dst_len']}")):
                    raise RuntimeFailure(
                        f"subnet {self.layout.subnet} overlaps a route of this host ({dst})",
                        hint="choose another subnet (CORRAL_SUBNET)",
                    )

    def _link_host_to_hub(self) -> None:
        layout = self.layout
        with IPRoute() as ipr:
            if _index(ipr, layout.host_veth) is None:
                hub_fd = os.open(self.hub_path, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    ipr.link("add", ifname=layout.host_veth, kind="veth",
                             peer={"ifname": HUB_UPLINK, "net_ns_fd": hub_fd})  # fmt: skip
                finally:
                    os.close(hub_fd)
            index = _index(ipr, layout.host_veth)
            _ignore_exists(ipr.addr, "add", index=index, address=layout.host_ip,
                           prefixlen=TRANSIT_PREFIX)  # fmt: skip
            ipr.link("set", index=index, state="up")
            ipr.route("replace", dst=str(layout.subnet), gateway=layout.hub_ip, oif=index)
        netns.set_sysctl(f"net/ipv4/conf/{layout.host_veth}/forwarding", 1)

    def _hub_setup(self) -> None:
        """In the hub: sysctls, the bridge with the gateway address, the route to the host."""
        for key, value in HUB_SYSCTLS.items():
            netns.set_sysctl(key, value)
        for key, value in HUB_OPTIONAL_SYSCTLS.items():
            with contextlib.suppress(FileNotFoundError):
                netns.set_sysctl(key, value)
        ipr = self._hub()
        if _index(ipr, BRIDGE) is None:
            ipr.link("add", ifname=BRIDGE, kind="bridge", br_stp_state=0, br_mcast_snooping=0)
        bridge = _index(ipr, BRIDGE)
        _ignore_exists(ipr.addr, "add", index=bridge, address=self.layout.gateway,
                       prefixlen=self.layout.subnet.prefixlen)  # fmt: skip
        ipr.link("set", index=bridge, state="up")
        netns.set_sysctl(f"net/ipv4/conf/{BRIDGE}/send_redirects", 0)
        uplink = _index(ipr, HUB_UPLINK)
        _ignore_exists(ipr.addr, "add", index=uplink, address=self.layout.hub_ip,
                       prefixlen=TRANSIT_PREFIX)  # fmt: skip
        ipr.link("set", index=uplink, state="up")
        ipr.route("replace", dst="0.0.0.0/0", gateway=self.layout.host_ip, oif=uplink)

    def _hub(self) -> IPRoute:
        """A netlink handle in the hub (only ever called on the hub's worker threads)."""
        if getattr(self._hub_local, "ipr", None) is None:
            self._hub_local.ipr = IPRoute()
        return self._hub_local.ipr  # type: ignore[no-any-return]

    def _hub_call(self, fn: Any, *args: Any) -> Any:
        if self._worker is None:
            raise RuntimeFailure("the network hub is not prepared")
        return self._worker.call(fn, *args)

    def _start_relay(self, host: str, port: int) -> None:
        def listen() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.layout.gateway, port))
            sock.listen(128)
            sock.setblocking(False)
            return sock

        target = "127.0.0.1" if host in ("", "0.0.0.0", "localhost") else host
        self._relay = Relay(self._hub_call(listen), (target, port))
        self._relay.start()

    # -- workspaces ---------------------------------------------------------------------

    def addresses(self) -> Iterator[str]:
        return self.layout.addresses()

    def attach(self, endpoint: Endpoint) -> Attachment:
        path = self.netns_dir / endpoint.workspace_id
        port = port_name(endpoint.workspace_id)
        with self._chores_lock:
            pending = port in self._unporting
        if pending and self._background is not None:  # re-attached right after a detach
            self._background.call(lambda: None)  # let that deletion pass first
        fresh = netns.in_thread(lambda: self._plumb(path, endpoint, port), "netns-attach")
        self._hub_call(self._enslave, port)
        files = self.files_dir / endpoint.workspace_id
        files.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if fresh:
                self._routed[endpoint.workspace_id] = False  # as _plumb leaves it
            else:
                self._routed.pop(endpoint.workspace_id, None)  # unknown: set it either way
            self._route_out(endpoint.workspace_id, endpoint.internet)
            self._write_files(endpoint, self._policy)
        return Attachment(
            netns=str(path),
            mounts=(Mount(str(files / "hosts"), "/etc/hosts"),
                    Mount(str(files / "resolv.conf"), "/etc/resolv.conf")),  # fmt: skip
        )

    def _plumb(self, path: Path, ep: Endpoint, port: str) -> bool:
        """In a throwaway thread: enter (or make) the workspace's namespace, set up eth0;
        whether it had to (False: it was there, as for a stopped workspace's restart)."""
        if netns.is_netns(path):
            netns.enter(path)
        else:
            netns.unshare_pinned(path)
            for key, value in WORKSPACE_SYSCTLS.items():
                netns.set_sysctl(key, value)
        gateway = self.layout.gateway
        with IPRoute() as ipr:
            index = _index(ipr, WORKSPACE_IFNAME)
            if index is not None:
                if any(a.get_attr("IFA_ADDRESS") == ep.ip for a in ipr.get_addr(index=index)):
                    return False
                ipr.link("del", index=index)
            hub_fd = os.open(self.hub_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                add = {"ifname": WORKSPACE_IFNAME, "kind": "veth", "address": mac_for(ep.ip),
                       "peer": {"ifname": port, "net_ns_fd": hub_fd}}  # fmt: skip
                try:
                    ipr.link("add", **add)
                except NetlinkError as exc:
                    if exc.code != errno.EEXIST:
                        raise
                    self._hub_call(self._unport, port)  # a stale hub end by that name
                    ipr.link("add", **add)
            finally:
                os.close(hub_fd)
            index = _index(ipr, WORKSPACE_IFNAME)
            ipr.addr("add", index=index, address=ep.ip, prefixlen=32)
            ipr.link("set", index=index, state="up")
            ipr.route("add", dst=f"{gateway}/32", oif=index, scope=RT_SCOPE_LINK)
            # The private subnet only: its way to link targets. A default route comes with
            # internet (`_route_out`); air-gapped, a workspace has no route out at all.
            ipr.route("add", dst=str(self.layout.subnet), gateway=gateway, oif=index)
        return True

    def _route_out(self, workspace_id: str, internet: bool) -> None:
        """Give a workspace a default route (through the hub) or take it away."""
        if self._routed.get(workspace_id) == internet:
            return
        path = self.netns_dir / workspace_id

        def change() -> None:
            netns.enter(path)
            with IPRoute() as ipr:
                index = _index(ipr, WORKSPACE_IFNAME)
                if index is None:
                    return
                if internet:
                    ipr.route("replace", dst="0.0.0.0/0", gateway=self.layout.gateway, oif=index)
                else:
                    with contextlib.suppress(NetlinkError):  # ESRCH: there was none
                        ipr.route("del", dst="0.0.0.0/0", oif=index)

        if netns.is_netns(path):
            netns.in_thread(change, "netns-route")
            self._routed[workspace_id] = internet

    def _enslave(self, port: str) -> None:
        ipr = self._hub()
        index = _index(ipr, port)
        if index is None:
            raise RuntimeFailure(f"the hub end {port} of a workspace veth is missing")
        ipr.link("set", index=index, master=_index(ipr, BRIDGE), state="up")
        # Isolated ports cannot exchange frames: workspaces only talk through the router.
        ipr.brport("set", index=index, isolated=1)

    def _unport_later(self, port: str) -> None:
        try:
            self._unport(port)
        finally:
            with self._chores_lock:
                self._unporting.discard(port)

    def _unport(self, port: str) -> None:
        ipr = self._hub()
        index = _index(ipr, port)
        if index is not None:
            with contextlib.suppress(NetlinkError):
                ipr.link("del", index=index)

    def detach(self, workspace_id: str) -> None:
        path = self.netns_dir / workspace_id
        # Unpinned, the namespace dies with the workspace's last process, and with it eth0
        # and its hub end. Deleting the veth takes ~25 ms (RCU), so it is done in the
        # background, for the case where something still holds the namespace; usually the
        # kernel has deleted it already.
        netns.remove_netns(path)
        shutil.rmtree(self.files_dir / workspace_id, ignore_errors=True)
        with self._lock:
            for name in ("hosts", "resolv.conf"):
                self._written.pop(self.files_dir / workspace_id / name, None)
            self._routed.pop(workspace_id, None)
        if self._background is not None:
            port = port_name(workspace_id)
            with self._chores_lock:
                self._unporting.add(port)
            self._background.submit(self._unport_later, port)

    def attached(self) -> list[str]:
        found: set[str] = set()
        for directory in (self.netns_dir, self.files_dir):
            if directory.is_dir():
                found |= set(os.listdir(directory))
        if netns.is_netns(self.hub_path):
            found |= {name.removeprefix(PORT_PREFIX) for name in self._hub_call(self._ports)}
        return sorted(found)

    def _ports(self) -> list[str]:
        names = [str(link.get_attr("IFLA_IFNAME")) for link in self._hub().get_links()]
        return [n for n in names if n.startswith(PORT_PREFIX)]

    # -- policy -------------------------------------------------------------------------

    def apply(self, policy: Policy) -> None:
        # A name seen for the first time is resolved now: outside the lock, as DNS can wait.
        resolved = self._domains.addresses(egress_domains(policy))
        with self._lock:
            self._apply(policy, resolved)

    def _apply(self, policy: Policy, resolved: dict[str, tuple[str, ...]]) -> None:
        api_port = self.api[1] if self.api else None
        ruleset = hub_ruleset(self.layout, policy, api_port=api_port,
                              resolvers=self.nameservers, resolved=resolved)  # fmt: skip
        if ruleset != self._ruleset:
            self._hub_call(self._hub_rules, ruleset)
            self._ruleset = ruleset
        self._schedule_cuts(revoked(self._policy, policy))
        self._policy = policy
        if not self._forwarding and self.uplink and any(ep.internet for ep in policy.endpoints):
            # Replies from the internet are forwarded into the hub: only then is it needed.
            netns.set_sysctl(f"net/ipv4/conf/{self.uplink}/forwarding", 1)
            self._forwarding = True
        for ep in policy.endpoints:
            if (self.files_dir / ep.workspace_id).is_dir():
                self._route_out(ep.workspace_id, ep.internet)
                self._write_files(ep, policy)

    def _hub_rules(self, ruleset: str) -> None:
        if getattr(self._hub_local, "nft", None) is None:
            self._hub_local.nft = Nft()
        self._hub_local.nft.run(ruleset)

    def _schedule_cuts(self, cuts: list[Cut]) -> None:
        if not cuts or self._background is None:
            return
        with self._chores_lock:
            idle = not self._cuts
            self._cuts += cuts
        if idle:
            self._background.submit(self._cut_flows)

    def _cut_flows(self) -> None:
        """In the hub: end the tracked flows that a policy change no longer allows."""
        with self._chores_lock:
            cuts, self._cuts = self._cuts, []
        subnet = self.layout.subnet
        conntrack.delete(
            flow for flow in conntrack.flows()
            if any(cut.matches(flow.source, flow.target, PROTOCOLS.get(flow.protocol, ""),
                               flow.port, subnet) for cut in cuts)
        )  # fmt: skip

    def _write_files(self, ep: Endpoint, policy: Policy) -> None:
        files = self.files_dir / ep.workspace_id
        for name, text in (("hosts", hosts_file(ep, policy)),
                           ("resolv.conf", resolv_conf(self.nameservers))):  # fmt: skip
            path = files / name
            if self._written.get(path) != text:
                _write_in_place(path, text)
                self._written[path] = text

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                if self._domains.refresh(egress_domains(self._policy)):
                    with self._lock:
                        policy = self._policy
                        self._apply(policy, self._domains.addresses(egress_domains(policy)))
            except Exception:  # keep refreshing; the next round may succeed
                log.exception("refreshing egress domains failed")


def remove_hub(run_dir: Path) -> None:
    """Remove a daemon's hub from the host (uninstall, tests); its workspaces lose network."""
    suffix = daemon_suffix(run_dir)
    with IPRoute() as ipr:
        index = _index(ipr, host_veth(suffix))
        if index is not None:
            ipr.link("del", index=index)
    netns.in_thread(lambda: Nft().run(remove_table("inet", host_table(suffix))))
    netns.remove_netns(run_dir / "hub.netns")
