"""Owners: a tenant's name, or `<tenant>/<workspace id>` for the children of one workspace.

A workspace with `api_access` gets a key whose owner is `<tenant>/<its id>`. Every route
looks resources up by the caller's owner, so that key sees exactly the workspaces it
created (and their events, files, links...), nothing of its tenant's or of anyone else's.
Its children still belong to the tenant: they count against its quotas and die with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from corral.engine.spec import WorkspaceRecord
from corral.errors import Forbidden

SEPARATOR = "/"
ADMIN_TENANT = "admin"
# A DNS label, short enough that `<tenant>/<workspace id>` fits the owner columns (64).
TENANT_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def tenant_of(owner: str) -> str:
    return owner.split(SEPARATOR, 1)[0]


def parent_of(owner: str) -> str | None:
    """The workspace whose children `owner` is, or None for a tenant."""
    _, sep, parent = owner.partition(SEPARATOR)
    return parent if sep else None


def children_of(owner: str, workspace_id: str) -> str:
    """The owner of the workspaces that the workspace `workspace_id` creates."""
    return f"{tenant_of(owner)}{SEPARATOR}{workspace_id}"


def belongs_to(owner: str, tenant: str) -> bool:
    return owner == tenant or owner.startswith(tenant + SEPARATOR)


def link_target(
    get: Callable[[str, str], WorkspaceRecord], owner: str, ref: str
) -> WorkspaceRecord:
    """The workspace `ref` names as the target of a link made by `owner`: one of its own
    workspaces (a link never crosses tenants), or for a workspace's children their parent
    and nothing else. `get(ref, owner)` looks a workspace up (NotFound when not there)."""
    parent_id = parent_of(owner)
    if parent_id is None:
        return get(ref, owner)
    parent = get(parent_id, tenant_of(owner))
    if ref not in (parent.id, parent.name):
        raise Forbidden("a workspace's children may link only back to it",
                        hint=f"link to {parent.name!r}")  # fmt: skip
    return parent
