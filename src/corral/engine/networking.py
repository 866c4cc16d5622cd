"""The private network's control plane: addresses, links, internet and published ports.

Every change is recorded in the store first; then the whole policy (every live workspace
and link) is recomputed from the store and handed to the network driver, which enforces it
atomically. The kernel's rules are therefore always a function of the store: a crash between
the two is repaired by the next apply (the reconciler applies on start), and nothing stale
can outlive the change that removed it.

Reachability, in one place:
- workspaces are air-gapped by default (no internet, nothing published, no API access);
- a private link lets one source reach one target on one port; links are directional,
  apply live, and vanish with either end;
- `internet` (narrowed to `egress`, when that is not empty) and `ports` can be changed on a
  live workspace; `egress` is kept while internet is off and applies when it is turned on;
  `api_access` is set at create (it issues the workspace's own API key).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import secrets
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from corral.drivers.network.base import Endpoint, Link, Policy
from corral.engine.spec import (
    EnvValue,
    LinkRecord,
    LinkTarget,
    NetworkSpec,
    SecretValue,
    WorkspaceRecord,
)
from corral.engine.states import State
from corral.errors import Conflict, InvalidSpec, NotFound
from corral.store.api_keys import issue_key
from corral.store.network import NetworkRows
from corral.tenancy.scopes import children_of, link_target

if TYPE_CHECKING:
    from corral.engine.engine import Engine

PROTOCOLS = ("tcp", "udp")
TOKEN_ENV, URL_ENV = "CORRAL_TOKEN", "CORRAL_URL"
WORKSPACE_KEY_ROLE = "workspace"
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                       r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")  # fmt: skip
_GONE = (State.DESTROYING, State.DESTROYED)


def check_egress(entries: Sequence[str]) -> tuple[str, ...]:
    """Normalised egress entries: IPv4 networks (`10.1.2.0/24`, `1.2.3.4`) or domain names."""
    normal = []
    for entry in entries:
        entry = entry.strip().lower().rstrip(".")
        try:
            normal.append(str(IPv4Network(entry, strict=False)))
            continue
        except ValueError:
            pass
        if ":" in entry:
            raise InvalidSpec(f"egress {entry!r}: IPv6 is not supported, workspaces are IPv4")
        if not _HOSTNAME.match(entry) or entry.replace(".", "").isdigit():
            raise InvalidSpec(f"egress {entry!r} is neither an IPv4 network nor a domain name",
                              hint='e.g. "10.1.2.0/24" or "api.example.com"')  # fmt: skip
        normal.append(entry)
    return tuple(dict.fromkeys(normal))


def check_spec(spec: NetworkSpec) -> NetworkSpec:
    if any(not 1 <= port <= 65535 for port in spec.ports):
        raise InvalidSpec("published ports must be between 1 and 65535")
    return dataclasses.replace(spec, egress=check_egress(spec.egress),
                               ports=tuple(sorted(set(spec.ports))))  # fmt: skip


def _check_link(port: int, protocol: str) -> None:
    if not 1 <= port <= 65535:
        raise InvalidSpec(f"link port {port} is not between 1 and 65535")
    if protocol not in PROTOCOLS:
        raise InvalidSpec(f"link protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")


def _endpoint(workspace_id: str, name: str, spec: NetworkSpec, ip: str) -> Endpoint:
    return Endpoint(workspace_id, name, ip, internet=spec.internet, egress=spec.egress,
                    ports=spec.ports, api_access=spec.api_access)  # fmt: skip


class Networking:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.store = engine.store
        self.network = engine.network
        self.rows = NetworkRows(engine.store)
        self._apply_lock = threading.Lock()

    # -- the policy ---------------------------------------------------------------------

    def endpoint(self, ws: WorkspaceRecord) -> Endpoint:
        """The workspace as the driver sees it; its address is allocated on first use.

        The allocation is what counts (the record's copy, saved with the caller's next
        save, is for display), so a crash in between loses nothing."""
        preferred = [ws.network.ip] if ws.network.ip else []
        ip = self.rows.allocate(ws.id, itertools.chain(preferred, self.network.addresses()))
        ws.network = dataclasses.replace(ws.network, ip=ip)
        return _endpoint(ws.id, ws.name, ws.network, ip)

    def policy(self) -> Policy:
        """Every workspace holding an address, and the links between them."""
        held = self.rows.allocations()
        views = [view for view in self.store.network_views() if view[0] in held]
        live = {workspace_id for workspace_id, _, _ in views}
        links = [Link(lk.id, lk.source, lk.target, lk.port, lk.protocol)  # type: ignore[arg-type]
                 for lk in self.rows.list_links()
                 if lk.source in live and lk.target in live]  # fmt: skip
        endpoints = (_endpoint(wid, name, spec, held[wid]) for wid, name, spec in views)
        return Policy(tuple(endpoints), tuple(links))

    def apply(self) -> None:
        """Make the driver enforce what the store holds now."""
        with self._apply_lock:  # a later apply must not be overtaken by an older policy
            self.network.apply(self.policy())

    # -- create and destroy ---------------------------------------------------------------

    def check(
        self, owner: str, spec: NetworkSpec, links: Sequence[LinkTarget]
    ) -> tuple[NetworkSpec, list[tuple[str, LinkTarget]]]:
        """Validate a new workspace's network; resolve its link targets to workspace ids."""
        spec = check_spec(spec)
        if spec.api_access and self.network.api_url is None:
            raise InvalidSpec("api_access is not available with this daemon's network driver")
        targets = []
        for link in links:
            _check_link(link.port, link.protocol)
            try:
                target = link_target(self.engine.get, owner, link.to)
            except NotFound:
                raise InvalidSpec(f"cannot link to {link.to!r}: no such workspace") from None
            if target.state in _GONE:
                raise InvalidSpec(f"cannot link to {link.to!r}: it is {target.state.value}")
            targets.append((target.id, link))
        return spec, targets

    def admit(
        self, ws: WorkspaceRecord, targets: list[tuple[str, LinkTarget]]
    ) -> dict[str, EnvValue]:
        """Give a new workspace its address, links and API key; the secret env to seal."""
        secret: dict[str, EnvValue] = {}
        if ws.network.api_access:
            # Its key sees only the workspaces it creates (`corral.tenancy.scopes`).
            key_id, token = issue_key(self.store, children_of(ws.owner, ws.id), WORKSPACE_KEY_ROLE)
            ws.extra["api_key_id"] = key_id
            assert self.network.api_url is not None
            ws.env[URL_ENV] = self.network.api_url
            secret[TOKEN_ENV] = SecretValue(token)
        self.endpoint(ws)  # allocates
        self.store.save_workspace(ws)
        for target_id, link in targets:
            self.rows.insert_link(self._link(ws.owner, ws.id, target_id, link.port,
                                             link.protocol))  # fmt: skip
        self.apply()
        return secret

    def release(self, ws: WorkspaceRecord) -> None:
        """A destroyed workspace's address, links and API key go; the policy follows."""
        self.rows.release(ws.id)
        key_id = ws.extra.pop("api_key_id", None)
        if isinstance(key_id, str):
            self.store.revoke_api_key(key_id)
        self.apply()

    def restore(self, live: set[str]) -> int:
        """For the reconciler: forget what belongs to no live workspace, apply the rest."""
        removed = self.rows.prune(live)
        self.apply()
        return removed

    # -- live changes -------------------------------------------------------------------

    def update(
        self,
        ref: str,
        owner: str,
        internet: bool | None = None,
        egress: Sequence[str] | None = None,
        ports: Sequence[int] | None = None,
    ) -> WorkspaceRecord:
        """Change what a workspace may reach, live (no restart)."""
        ws = self.engine.get(ref, owner)
        with self.engine.locked(ws.id):
            ws = self.engine.get(ws.id, owner)
            if ws.state in _GONE:
                raise Conflict(f"cannot change the network of a workspace that is "
                               f"{ws.state.value}")  # fmt: skip
            spec = ws.network
            if internet is not None:
                spec = dataclasses.replace(spec, internet=internet)
            if egress is not None:
                spec = dataclasses.replace(spec, egress=tuple(egress))
            if ports is not None:
                spec = dataclasses.replace(spec, ports=tuple(ports))
            ws.network = check_spec(spec)
            self.engine.admission.check_change(ws)
            self.store.save_workspace(ws)
            self.apply()
            self.engine.emit(ws, "network", f"internet {'on' if spec.internet else 'off'}",
                             internet=spec.internet, egress=list(spec.egress),
                             ports=list(spec.ports))  # fmt: skip
        return ws

    def _link(self, owner: str, source: str, target: str, port: int, protocol: str) -> LinkRecord:
        return LinkRecord(id=secrets.token_hex(6), owner=owner, source=source, target=target,
                          port=port, protocol=protocol, created_at=datetime.now(UTC))  # fmt: skip

    def create_link(
        self, owner: str, source_ref: str, target_ref: str, port: int, protocol: str = "tcp"
    ) -> LinkRecord:
        _check_link(port, protocol)
        source = self.engine.get(source_ref, owner)
        target = link_target(self.engine.get, owner, target_ref)
        if source.id == target.id:
            raise InvalidSpec("a workspace cannot link to itself")
        first, second = sorted((source.id, target.id))
        with self.engine.locked(first), self.engine.locked(second):
            for ws in (self.engine.get(source.id, owner), self.engine.get(target.id, target.owner)):
                if ws.state in _GONE:
                    raise Conflict(f"cannot link workspace {ws.name!r}: it is {ws.state.value}")
            link = self._link(owner, source.id, target.id, port, protocol)
            self.rows.insert_link(link)
            self.apply()
        self.engine.emit(source, "link", f"linked to {target.name}:{port}/{protocol}",
                         link=link.id, target=target.id, port=port)  # fmt: skip
        return link

    def list_links(self, owner: str, workspace_ref: str | None = None) -> list[LinkRecord]:
        workspace_id = self.engine.get(workspace_ref, owner).id if workspace_ref else None
        return self.rows.list_links(owner, workspace_id)

    def get_link(self, owner: str, link_id: str) -> LinkRecord:
        return self.rows.get_link(link_id, owner)

    def delete_link(self, owner: str, link_id: str) -> LinkRecord:
        link = self.rows.get_link(link_id, owner)
        self.rows.delete_link(link.id)
        self.apply()
        return link

    # -- published ports --------------------------------------------------------------------

    def published(self, ws: WorkspaceRecord, port: int) -> str:
        """Base URL of a published port, for the daemon's proxy."""
        if port not in ws.network.ports or ws.network.ip is None:
            hint = "publish it: ports=[...] at create, or POST /v1/workspaces/{ref}/network"
            raise NotFound(f"port {port} of {ws.name!r} is not published", hint=hint)
        return f"http://{ws.network.ip}:{port}"
