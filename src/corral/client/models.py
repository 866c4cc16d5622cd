"""What the client hands back: the API's response models, plus what a caller reads off them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel

from corral.api import schemas
from corral.api.schemas import Info, MetricsSummary, WorkspaceMetrics
from corral.api.schemas import Workspace as WorkspaceModel

# States in which a workspace is, or is about to be, destroyed.
GONE = ("destroying", "destroyed")

__all__ = [
    "GONE",
    "Event",
    "ExecResult",
    "FileEntry",
    "Info",
    "MetricsSummary",
    "OutputChunk",
    "WorkspaceFields",
    "WorkspaceMetrics",
    "WorkspaceModel",
]


class Event(BaseModel):
    """Something that happened to a workspace: a state change, a restart, an expiry..."""

    id: int
    workspace_id: str | None
    type: str
    message: str
    data: dict[str, Any]
    created_at: datetime


class ExecResult(schemas.ExecResult):
    """How a command ended, with everything it printed."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class FileEntry(schemas.FileEntry):
    @property
    def is_dir(self) -> bool:
        return self.type == "dir"


class OutputChunk(NamedTuple):
    """A piece of a running command's output, as it arrives; unpacks as `(stream, text)`."""

    stream: Literal["stdout", "stderr"]
    text: str


class WorkspaceFields(WorkspaceModel):
    """A workspace's API fields as attributes, shared by the sync and async handles."""

    def _update(self, record: WorkspaceModel) -> None:
        for name in WorkspaceModel.model_fields:
            setattr(self, name, getattr(record, name))

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        # The full record is a screenful; these identify the workspace.
        return [("id", self.id), ("name", self.name), ("state", self.state)]
