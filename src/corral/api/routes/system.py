"""Health and daemon information."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from corral import __version__
from corral.api import schemas
from corral.api.auth import Principal, principal

router = APIRouter(prefix="/v1", tags=["system"])


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/info", response_model=schemas.Info)
def info(request: Request, who: Annotated[Principal, Depends(principal)]) -> schemas.Info:
    engine = request.app.state.engine
    return schemas.Info(
        version=__version__,
        runtime=engine.runtime.name,
        isolation=engine.runtime.levels(),
        cgroup_mode=request.app.state.cgroup_mode,
        state_dir=str(request.app.state.settings.state_dir),
        workspaces=len(engine.list(who.owner)),
    )
