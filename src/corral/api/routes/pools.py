"""Warm pools (admin): how many pre-created sandboxes are kept ready, per image."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from corral.api.routes.admin import Admin
from corral.engine.pool import WarmPool
from corral.errors import Conflict, InvalidSpec

router = APIRouter(prefix="/v1/admin/pools", tags=["admin"])


class PoolStatus(BaseModel):
    image: str
    size: int = Field(description="sandboxes kept ready")
    ready: int = Field(description="ready right now")


class PoolSize(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: Annotated[int, Field(ge=0, le=1000)]


class Pools(BaseModel):
    pools: list[PoolStatus]
    claims: int
    misses: int


def pool_of(request: Request) -> WarmPool:
    pool = request.app.state.engine.pool
    if pool is None:
        raise Conflict("warm pools are off", hint="start corral with CORRAL_WARM_POOL=host=4")
    return pool  # type: ignore[no-any-return]


@router.get("", response_model=Pools)
def list_pools(request: Request, _: Admin) -> Pools:
    pool = pool_of(request)
    status = [PoolStatus(image=i, **s) for i, s in pool.status().items()]
    return Pools(pools=status, claims=pool.claims, misses=pool.misses)


@router.put("/{image}", response_model=PoolStatus)
def resize_pool(image: str, body: PoolSize, request: Request, _: Admin) -> PoolStatus:
    engine = request.app.state.engine
    if image not in engine.images():
        raise InvalidSpec(f"unknown image {image!r}")
    pool = pool_of(request)
    pool.resize(image, body.size)
    return PoolStatus(image=image, **pool.status()[image])
