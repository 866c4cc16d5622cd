"""Named volumes: create, list, get, delete (a crypto-erase)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from corral.api import schemas, views
from corral.api.routes.workspaces import Who, engine_of
from corral.engine.spec import VolumeRecord
from corral.engine.volumes import Volumes

router = APIRouter(prefix="/v1/volumes", tags=["volumes"])


def _view(volumes: Volumes, record: VolumeRecord) -> schemas.Volume:
    return views.volume(record, volumes.users(record.id))


@router.post("", status_code=201, response_model=schemas.Volume)
def create_volume(body: schemas.VolumeCreate, request: Request, who: Who) -> schemas.Volume:
    engine = engine_of(request)
    with engine.admission.admit_volume(who.owner, body.size_mib):  # the disk quota
        volume = engine.volumes.create(who.owner, body.name, body.size_mib)
    return _view(engine.volumes, volume)


@router.get("", response_model=schemas.VolumeList)
def list_volumes(request: Request, who: Who) -> schemas.VolumeList:
    volumes = engine_of(request).volumes
    return schemas.VolumeList(volumes=[_view(volumes, v) for v in volumes.list(who.owner)])


@router.get("/{ref}", response_model=schemas.Volume)
def get_volume(ref: str, request: Request, who: Who) -> schemas.Volume:
    volumes = engine_of(request).volumes
    return _view(volumes, volumes.get(ref, who.owner))


@router.delete("/{ref}", response_model=schemas.Volume)
def delete_volume(ref: str, request: Request, who: Who) -> schemas.Volume:
    volumes = engine_of(request).volumes
    return views.volume(volumes.delete(ref, who.owner), [])
