"""The JSON bodies of E2B's control-plane API (the subset the e2b SDK sends and parses).

Field names are E2B's (camelCase, `templateID`...). Requests ignore fields corral has no
use for (MCP, volumes, IAM...) rather than refusing them, so an SDK that sends more than it
did when this was written still works.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SandboxState = Literal["running", "paused"]


class Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Response(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class NetworkConfig(Request):
    allow_out: list[str] | None = Field(default=None, alias="allowOut")
    deny_out: list[str] | None = Field(default=None, alias="denyOut")


class NewSandbox(Request):
    template_id: str = Field(alias="templateID", min_length=1, max_length=256)
    timeout: Annotated[int, Field(ge=1, le=30 * 24 * 3600)] | None = None
    auto_pause: bool | None = Field(default=None, alias="autoPause")
    metadata: dict[str, str] | None = None
    env_vars: dict[str, str] | None = Field(default=None, alias="envVars")
    allow_internet_access: bool | None = None  # (snake_case in E2B's API too)
    network: NetworkConfig | None = None


class SetTimeout(Request):
    timeout: Annotated[int, Field(ge=1, le=30 * 24 * 3600)]


class Connect(Request):
    timeout: Annotated[int, Field(ge=1, le=30 * 24 * 3600)] | None = None


class Resume(Request):
    timeout: Annotated[int, Field(ge=1, le=30 * 24 * 3600)] | None = None
    auto_pause: bool | None = Field(default=None, alias="autoPause")


class Sandbox(Response):
    """A sandbox just created, connected to or resumed: what the SDK needs to reach it."""

    template_id: str = Field(serialization_alias="templateID")
    sandbox_id: str = Field(serialization_alias="sandboxID")
    client_id: str = Field(serialization_alias="clientID")
    alias: str | None = None
    envd_version: str = Field(serialization_alias="envdVersion")
    envd_access_token: str = Field(serialization_alias="envdAccessToken")
    traffic_access_token: str | None = Field(serialization_alias="trafficAccessToken")
    domain: str | None = None


class ListedSandbox(Response):
    template_id: str = Field(serialization_alias="templateID")
    alias: str | None = None
    sandbox_id: str = Field(serialization_alias="sandboxID")
    client_id: str = Field(serialization_alias="clientID")
    started_at: datetime = Field(serialization_alias="startedAt")
    end_at: datetime = Field(serialization_alias="endAt")
    cpu_count: int = Field(serialization_alias="cpuCount")
    memory_mb: int = Field(serialization_alias="memoryMB")
    disk_size_mb: int = Field(serialization_alias="diskSizeMB")
    metadata: dict[str, str]
    state: SandboxState
    envd_version: str = Field(serialization_alias="envdVersion")


class SandboxDetail(ListedSandbox):
    domain: str | None = None


class SandboxMetric(Response):
    timestamp: datetime
    timestamp_unix: int = Field(serialization_alias="timestampUnix")
    cpu_count: int = Field(serialization_alias="cpuCount")
    cpu_used_pct: float = Field(serialization_alias="cpuUsedPct")
    mem_used: int = Field(serialization_alias="memUsed")
    mem_total: int = Field(serialization_alias="memTotal")
    mem_cache: int = Field(serialization_alias="memCache")
    disk_used: int = Field(serialization_alias="diskUsed")
    disk_total: int = Field(serialization_alias="diskTotal")
