"""The database schema (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

workspaces = Table(
    "workspaces",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(63), nullable=False),
    Column("image", String(64), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("command", JSON),
    Column("env", JSON, nullable=False),
    Column("cpu", Float),
    Column("memory_mib", Integer),
    Column("pids", Integer),
    Column("restart", String(16), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("ttl_seconds", Integer),
    Column("expires_at", DateTime(timezone=True)),
    Column("runtime", String(16), nullable=False),
    Column("restart_count", Integer, nullable=False, default=0),
    Column("last_exit_code", Integer),
    Column("last_exit_at", DateTime(timezone=True)),
    Column("error", Text),
    Column("extra", JSON, nullable=False),
    Column("lifecycle", JSON, nullable=False),
    Column("storage", JSON),  # disk, volumes, template (corral.engine.spec.StorageSpec)
    Column("secret_env", JSON),  # name -> sealed value (base64) or tenant secret ref
    Column("network", JSON),  # address, internet, egress, ports (corral.engine.spec.NetworkSpec)
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # A live name is unique per owner; destroyed rows keep their name but get a tombstone
    # suffix in `name_key` so the name can be reused.
    Column("name_key", String(100), nullable=False),
    UniqueConstraint("owner", "name_key", name="uq_workspace_owner_name"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("hash", String(128), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
    Column("revoked_at", DateTime(timezone=True)),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("workspace_id", String(32), index=True),
    Column("type", String(32), nullable=False),
    Column("message", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("event_types", JSON, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("webhook_id", String(32), nullable=False, index=True),
    Column("event_id", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),  # pending | delivered | dead
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Wrapped keys: `key_id` names what the key protects (disk:<id>, workspace:<id>,
# tenant:<owner>); `master_check` tells which master key wrapped it. Deleted securely.
keys = Table(
    "keys",
    metadata,
    Column("key_id", String(128), primary_key=True),
    Column("wrapped", LargeBinary, nullable=False),
    Column("master_check", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Each owner's named secrets, sealed under the owner's data key (tenant:<owner>).
secrets = Table(
    "secrets",
    metadata,
    Column("owner", String(64), primary_key=True),
    Column("name", String(63), primary_key=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

volumes = Table(
    "volumes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(63), nullable=False),
    Column("size_mib", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner", "name", name="uq_volume_owner_name"),
)

templates = Table(
    "templates",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(63), nullable=False),
    Column("image", String(64), nullable=False),
    Column("layers", JSON, nullable=False),
    Column("disk_mib", Integer),
    Column("disk_path", String(4096), nullable=False),
    Column("source", String(32), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("owner", "name", name="uq_template_owner_name"),
)

# IPAM: one address per workspace, from the network driver's range, held until destroy.
addresses = Table(
    "addresses",
    metadata,
    Column("ip", String(45), primary_key=True),
    Column("workspace_id", String(32), nullable=False, unique=True),
    Column("allocated_at", DateTime(timezone=True), nullable=False),
)

# Private links: `source` may connect to `target` on one port (workspace ids).
links = Table(
    "links",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("source", String(32), nullable=False, index=True),
    Column("target", String(32), nullable=False, index=True),
    Column("port", Integer, nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("source", "target", "port", "protocol", name="uq_link"),
)

# Tenants: every `owner` belongs to one (`corral.tenancy.scopes`), with its quotas.
tenants = Table(
    "tenants",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("quotas", JSON, nullable=False),  # corral.tenancy.quotas.Quotas
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The audit log: one row per mutating API call, whatever its outcome.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", DateTime(timezone=True), nullable=False, index=True),
    Column("tenant", String(64), index=True),  # null: the caller was not authenticated
    Column("owner", String(64)),  # the key's scope: the tenant, or a workspace's children
    Column("key_prefix", String(16)),
    Column("action", String(200), nullable=False),  # method and route, e.g. DELETE /v1/...
    Column("target", Text),  # path parameters and the id of what was created (JSON)
    Column("status", Integer, nullable=False),
    Column("duration_ms", Float, nullable=False),
)
