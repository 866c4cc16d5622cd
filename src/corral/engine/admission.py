"""Admission: the engine's one hook for who may create or change what.

Every create first gets its unset limits from `defaults` (a child's come from its parent's
policy), then passes `admit` (a context manager held from the check until the new workspace
is in the store, so that concurrent creates are checked one after the other), every change
of a live workspace's spec passes `check_change`, every new volume `admit_volume`. They
raise a `CorralError` to refuse. By default everything is admitted; `corral.tenancy` plugs
quotas and child policies in here, so the engine knows nothing of tenants.
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Protocol

from corral.engine.spec import Limits, StorageSpec, WorkspaceRecord


class Admission(Protocol):
    def defaults(
        self, owner: str, limits: Limits, storage: StorageSpec
    ) -> tuple[Limits, StorageSpec]: ...

    def admit(self, ws: WorkspaceRecord) -> AbstractContextManager[object]: ...

    def check_change(self, ws: WorkspaceRecord) -> None: ...

    def admit_volume(self, owner: str, size_mib: int) -> AbstractContextManager[object]: ...


class AdmitAll:
    def defaults(
        self, owner: str, limits: Limits, storage: StorageSpec
    ) -> tuple[Limits, StorageSpec]:
        return limits, storage

    def admit(self, ws: WorkspaceRecord) -> AbstractContextManager[object]:
        return contextlib.nullcontext()

    def check_change(self, ws: WorkspaceRecord) -> None:
        return None

    def admit_volume(self, owner: str, size_mib: int) -> AbstractContextManager[object]:
        return contextlib.nullcontext()
