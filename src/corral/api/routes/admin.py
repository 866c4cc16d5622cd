"""Operator actions, for admin keys only: tenants, their keys and quotas, the audit log.

To any other key the tenant and audit routes do not exist (404, like a resource of another
tenant), so they reveal nothing, not even that a tenant exists.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from corral.api import schemas
from corral.api.auth import Principal, principal
from corral.api.routes.workspaces import Who, engine_of
from corral.errors import Forbidden, NotFound
from corral.tenancy.quotas import Quotas
from corral.tenancy.service import Tenancy, Tenant

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.post("/rotate-master-key", response_model=schemas.MasterKeyRotation)
def rotate_master_key(request: Request, who: Who) -> schemas.MasterKeyRotation:
    """Re-wrap every key (disk keys, data keys) under a new master key, written over the old
    master key file. Data is not touched; running workspaces keep running."""
    if who.role != "admin":
        raise Forbidden("rotating the master key needs an admin key")
    keyring = engine_of(request).keyring
    started = time.perf_counter()
    count = keyring.rotate()
    return schemas.MasterKeyRotation(
        rewrapped=count,
        master_key_check=keyring.master_check,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
    )


# -- tenants, keys, audit -------------------------------------------------------------------


def admin(request: Request, who: Annotated[Principal, Depends(principal)]) -> Tenancy:
    """FastAPI dependency: the tenancy service, for admin keys; 404 for any other key."""
    if who.role != "admin":
        raise NotFound(f"no route {request.url.path!r}")
    return request.app.state.tenancy  # type: ignore[no-any-return]


Admin = Annotated[Tenancy, Depends(admin)]


def _tenant(tenancy: Tenancy, tenant: Tenant) -> schemas.Tenant:
    usage = tenancy.usage(tenant.name)
    return schemas.Tenant(
        name=tenant.name,
        quotas=schemas.Quotas(**tenant.quotas.to_json()),
        usage=schemas.Usage(workspaces=usage.workspaces, cpu=round(usage.cpu, 3),
                            memory_mib=usage.memory_mib, disk_mib=usage.disk_mib,
                            temporary=usage.temporary),  # fmt: skip
        created_at=tenant.created_at,
    )


def _key(row: dict[str, Any]) -> schemas.ApiKey:
    return schemas.ApiKey(**{name: row[name] for name in schemas.ApiKey.model_fields})


@router.post("/tenants", status_code=201, response_model=schemas.Tenant)
def create_tenant(body: schemas.TenantCreate, tenancy: Admin) -> schemas.Tenant:
    return _tenant(tenancy, tenancy.create_tenant(body.name, Quotas(**body.quotas.model_dump())))


@router.get("/tenants", response_model=schemas.TenantList)
def list_tenants(tenancy: Admin) -> schemas.TenantList:
    return schemas.TenantList(tenants=[_tenant(tenancy, t) for t in tenancy.tenants()])


@router.get("/tenants/{tenant}", response_model=schemas.Tenant)
def get_tenant(tenant: str, tenancy: Admin) -> schemas.Tenant:
    return _tenant(tenancy, tenancy.tenant(tenant))


@router.patch("/tenants/{tenant}", response_model=schemas.Tenant)
def update_tenant(tenant: str, body: schemas.TenantUpdate, tenancy: Admin) -> schemas.Tenant:
    """Replace the tenant's quotas. Lowering one below the usage refuses new workspaces
    only: what runs keeps running."""
    return _tenant(tenancy, tenancy.set_quotas(tenant, Quotas(**body.quotas.model_dump())))


@router.delete("/tenants/{tenant}", response_model=schemas.TenantDeleted)
def delete_tenant(tenant: str, tenancy: Admin) -> schemas.TenantDeleted:
    """Revoke every key of the tenant, destroy every one of its workspaces (their disks
    crypto-erased), forget the tenant."""
    return schemas.TenantDeleted(name=tenant, workspaces_destroyed=tenancy.delete_tenant(tenant))


@router.post("/tenants/{tenant}/keys", status_code=201, response_model=schemas.ApiKeyCreated)
def create_key(tenant: str, body: schemas.KeyCreate, tenancy: Admin) -> schemas.ApiKeyCreated:
    row, key = tenancy.create_key(tenant, body.role)
    return schemas.ApiKeyCreated(**_key(row).model_dump(), key=key)


@router.get("/tenants/{tenant}/keys", response_model=schemas.ApiKeyList)
def list_keys(tenant: str, tenancy: Admin) -> schemas.ApiKeyList:
    """The tenant's keys (workspace tokens included), by prefix; never the keys themselves."""
    return schemas.ApiKeyList(keys=[_key(row) for row in tenancy.keys(tenant)])


@router.delete("/tenants/{tenant}/keys/{key_id}", response_model=schemas.ApiKey)
def revoke_key(tenant: str, key_id: str, tenancy: Admin) -> schemas.ApiKey:
    return _key(tenancy.revoke_key(tenant, key_id))


@router.get("/audit", response_model=schemas.AuditLog)
def audit(
    tenancy: Admin,
    tenant: str | None = None,
    since: datetime | None = None,
    action: Annotated[str | None, Query(description="part of the method and route")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> schemas.AuditLog:
    """Mutating API calls, newest first."""
    rows = tenancy.rows.audit(tenant, since, action, limit)
    for row in rows:
        row["target"] = json.loads(row["target"]) if row["target"] else None
    return schemas.AuditLog(entries=[schemas.AuditEntry(**row) for row in rows])

