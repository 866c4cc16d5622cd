"""The Python SDK: sync and async clients of corral's HTTP API, with the same surface.

from corral import Client

with Client() as client, client.sandbox(ttl=60) as sb:
    result = sb.exec("python3 -c 'print(6 * 7)'")
    assert result.ok and result.stdout == "42\\n"
"""

from corral.client.aio import AsyncClient, AsyncFiles, AsyncWorkspace, AsyncWorkspaces
from corral.client.calls import ExecOptions, WorkspaceSpec
from corral.client.models import (
    ExecResult,
    FileEntry,
    Info,
    MetricsSummary,
    OutputChunk,
    WorkspaceMetrics,
)
from corral.client.sync import Client, Files, Workspace, Workspaces

__all__ = [
    "AsyncClient",
    "AsyncFiles",
    "AsyncWorkspace",
    "AsyncWorkspaces",
    "Client",
    "ExecOptions",
    "ExecResult",
    "FileEntry",
    "Files",
    "Info",
    "MetricsSummary",
    "OutputChunk",
    "Workspace",
    "WorkspaceMetrics",
    "WorkspaceSpec",
    "Workspaces",
]
