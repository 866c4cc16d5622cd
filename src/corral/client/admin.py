"""The admin API (tenants, their keys and quotas, the audit log), for clients with an admin key.

`Admin(client)` sends these calls through a `Client`; the calls themselves are data, as in
`corral.client.calls`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from corral.api.schemas import (
    ApiKey,
    ApiKeyCreated,
    ApiKeyList,
    AuditEntry,
    AuditLog,
    Tenant,
    TenantDeleted,
    TenantList,
)
from corral.client.calls import Call, Request, _model

if TYPE_CHECKING:
    from corral.client.sync import Client


def _tenant_path(tenant: str, *rest: str) -> str:
    return "/".join(["/v1/admin/tenants", quote(tenant, safe=""), *rest])


def create_tenant(name: str, quotas: dict[str, Any]) -> Call[Tenant]:
    body = {"name": name, "quotas": quotas}
    return Call(Request("POST", "/v1/admin/tenants", json=body), _model(Tenant))


def list_tenants() -> Call[list[Tenant]]:
    return Call(Request("GET", "/v1/admin/tenants"),
                lambda r: TenantList.model_validate_json(r.content).tenants)  # fmt: skip


def get_tenant(name: str) -> Call[Tenant]:
    return Call(Request("GET", _tenant_path(name)), _model(Tenant))


def set_quotas(name: str, quotas: dict[str, Any]) -> Call[Tenant]:
    return Call(Request("PATCH", _tenant_path(name), json={"quotas": quotas}), _model(Tenant))


def delete_tenant(name: str) -> Call[TenantDeleted]:
    return Call(Request("DELETE", _tenant_path(name)), _model(TenantDeleted))


def create_key(tenant: str, role: str = "member") -> Call[ApiKeyCreated]:
    request = Request("POST", _tenant_path(tenant, "keys"), json={"role": role})
    return Call(request, _model(ApiKeyCreated))


def list_keys(tenant: str) -> Call[list[ApiKey]]:
    return Call(Request("GET", _tenant_path(tenant, "keys")),
                lambda r: ApiKeyList.model_validate_json(r.content).keys)  # fmt: skip


def revoke_key(tenant: str, key_id: str) -> Call[ApiKey]:
    path = _tenant_path(tenant, "keys", quote(key_id, safe=""))
    return Call(Request("DELETE", path), _model(ApiKey))


def audit(
    tenant: str | None = None,
    since: datetime | None = None,
    action: str | None = None,
    limit: int = 100,
) -> Call[list[AuditEntry]]:
    params = [("limit", str(limit))]
    params += [("tenant", tenant)] if tenant else []
    params += [("since", since.isoformat())] if since else []
    params += [("action", action)] if action else []
    return Call(Request("GET", "/v1/admin/audit", params=tuple(params)),
                lambda r: AuditLog.model_validate_json(r.content).entries)  # fmt: skip


class Admin:
    """`Admin(client)`: tenants, keys and the audit log, through `client`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create_tenant(self, name: str, **quotas: Any) -> Tenant:
        return self._client._send(create_tenant(name, quotas))

    def tenants(self) -> list[Tenant]:
        return self._client._send(list_tenants())

    def tenant(self, name: str) -> Tenant:
        return self._client._send(get_tenant(name))

    def set_quotas(self, name: str, **quotas: Any) -> Tenant:
        return self._client._send(set_quotas(name, quotas))

    def delete_tenant(self, name: str) -> TenantDeleted:
        return self._client._send(delete_tenant(name))

    def create_key(self, tenant: str, role: str = "member") -> ApiKeyCreated:
        return self._client._send(create_key(tenant, role))

    def keys(self, tenant: str) -> list[ApiKey]:
        return self._client._send(list_keys(tenant))

    def revoke_key(self, tenant: str, key_id: str) -> ApiKey:
        return self._client._send(revoke_key(tenant, key_id))

    def audit(self, **filters: Any) -> list[AuditEntry]:
        return self._client._send(audit(**filters))
