"""The network contract: how the engine gives workspaces a private network, keyed by workspace id.

Every workspace gets its own network namespace with one private address. The engine owns
the desired state (addresses, options, links: all in the store) and hands it over in plain
dataclasses; a driver makes reality match:

- `attach(endpoint)` plumbs one workspace in (namespace, interface, address, the name files
  its processes read) and returns what the runtime needs; idempotent.
- `detach(workspace_id)` removes everything `attach` made; a no-op when nothing is there.
- `attached()` lists the workspace ids with anything on the host, so the reconciler can
  remove strays.
- `apply(policy)` makes the packet filter enforce exactly `policy`, every workspace and link
  at once, atomically: what the policy does not allow is denied. It is cheap when nothing
  changed, so the engine calls it after every change and the reconciler calls it on start.
- `addresses()` yields the addresses a workspace may be given, in order of preference; the
  engine allocates from them in the store (IPAM), so an address survives daemon restarts.
- `api_url` is where workspaces with `api_access` reach the control plane.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from corral.drivers.runtime.base import Mount

Transport = Literal["tcp", "udp"]


@dataclass(frozen=True)
class Endpoint:
    """One workspace as the network sees it."""

    workspace_id: str
    name: str
    ip: str
    internet: bool = False
    # When `internet` is on: the only destinations allowed (IPv4 networks, domain names);
    # empty means the whole internet.
    egress: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()  # published TCP ports: reachable by the daemon's proxy only
    api_access: bool = False


@dataclass(frozen=True)
class Link:
    """`source` may open connections to `target` on `port`; nothing else is implied."""

    id: str
    source: str  # workspace ids
    target: str
    port: int
    protocol: Transport = "tcp"


@dataclass(frozen=True)
class Policy:
    endpoints: tuple[Endpoint, ...] = ()
    links: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Attachment:
    netns: str  # path of the network namespace the runtime joins
    mounts: tuple[Mount, ...] = ()  # files to bind into the workspace (/etc/hosts, ...)


class Network(Protocol):
    api_url: str | None

    def addresses(self) -> Iterator[str]: ...

    def attach(self, endpoint: Endpoint) -> Attachment: ...

    def detach(self, workspace_id: str) -> None: ...

    def attached(self) -> list[str]: ...

    def apply(self, policy: Policy) -> None: ...
