"""Domain names in egress allow-lists, resolved by the daemon into addresses nftables can match.

The daemon resolves a name when it first appears in a policy and again every refresh period
(addresses of popular services change); a failed lookup keeps the addresses last seen rather
than cutting a workspace off over a transient DNS error. Only IPv4 is resolved, as workspaces
have IPv4 only.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable

Resolve = Callable[[str], tuple[str, ...]]


def resolve_ipv4(name: str) -> tuple[str, ...]:
    infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    return tuple(sorted({str(info[4][0]) for info in infos}))


class DomainCache:
    def __init__(self, resolve: Resolve = resolve_ipv4) -> None:
        self._resolve = resolve
        self._addresses: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def _lookup(self, name: str) -> tuple[str, ...] | None:
        try:
            return self._resolve(name)
        except OSError:
            return None

    def addresses(self, names: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Addresses of each name; names never seen before are resolved now."""
        wanted = set(names)
        with self._lock:
            unknown = wanted - self._addresses.keys()
        for name in unknown:
            found = self._lookup(name)
            with self._lock:
                self._addresses.setdefault(name, found or ())
        with self._lock:
            return {name: self._addresses[name] for name in wanted}

    def refresh(self, names: Iterable[str]) -> bool:
        """Resolve `names` again (and forget all others); whether any address changed."""
        wanted = set(names)
        changed = False
        for name in wanted:
            found = self._lookup(name)
            with self._lock:
                if found is not None and found != self._addresses.get(name):
                    self._addresses[name] = found
                    changed = True
        with self._lock:
            for name in set(self._addresses) - wanted:
                del self._addresses[name]
        return changed
