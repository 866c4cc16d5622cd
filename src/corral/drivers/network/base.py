"""The network contract: one network namespace per workspace, keyed by workspace id.

`attach` returns the path of a network namespace the runtime joins; it is idempotent.
`detach` removes everything `attach` made (namespace, links, rules) and is a no-op when
nothing is there. `attached` lists what exists, so the reconciler can remove strays.
"""

from __future__ import annotations

from typing import Protocol


class Network(Protocol):
    def attach(self, workspace_id: str) -> str: ...

    def detach(self, workspace_id: str) -> None: ...

    def attached(self) -> list[str]: ...
