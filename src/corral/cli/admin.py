"""`corral admin ...`: operator actions (they need the admin key): tenants, keys, audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from json import dumps
from typing import Annotated

import typer
from rich.table import Table

from corral.cli import output, render
from corral.cli.errors import reporting
from corral.cli.options import Json
from corral.cli.session import client
from corral.client.admin import Admin

app = typer.Typer(help="Operator actions (admin key).", no_args_is_help=True)


@app.command("rotate-master-key")
@reporting
def rotate_master_key(ctx: typer.Context, json: Json = False) -> None:
    """Re-wrap every disk and data key under a new master key, through the running daemon.

    The new key replaces the master key file (keep a backup of it: without it, no disk and no
    secret can be read). Data is not re-encrypted and workspaces keep running.
    """
    result = client(ctx).rotate_master_key()
    if json:
        output.print_json(result)
    else:
        output.stdout.print(f"re-wrapped {result.rewrapped} keys in {result.duration_ms:.0f} ms; "
                            f"new master key check {result.master_key_check}")  # fmt: skip


# -- tenants, keys, audit ---------------------------------------------------------------------

tenant_app = typer.Typer(help="Tenants: who owns workspaces, with their quotas.",
                         no_args_is_help=True)  # fmt: skip
key_app = typer.Typer(help="API keys of tenants (shown once, stored hashed).",
                      no_args_is_help=True)  # fmt: skip
app.add_typer(tenant_app, name="tenant")
app.add_typer(key_app, name="key")

MaxWorkspaces = Annotated[int | None, typer.Option(help="At most this many workspaces.")]
MaxCpu = Annotated[float | None, typer.Option(help="At most this many cores, summed.")]
MaxMemory = Annotated[int | None, typer.Option(help="At most this much memory (MiB), summed.")]
MaxDisk = Annotated[int | None, typer.Option(help="At most this much disk (MiB): disks, volumes.")]
MaxTemporary = Annotated[int | None, typer.Option(help="At most this many sandboxes with a TTL.")]


def _quotas(**values: object) -> dict[str, object]:
    return {f"max_{name}": value for name, value in values.items() if value is not None}


def _when(value: datetime | None) -> str:
    return "-" if value is None else f"{render.age(value, datetime.now(UTC))} ago"


def _used(used: float, limit: float | None, unit: str = "") -> str:
    return f"{used:g}{unit}/{'-' if limit is None else f'{limit:g}{unit}'}"


@tenant_app.command("create")
@reporting
def tenant_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A DNS label.")],
    max_workspaces: MaxWorkspaces = None,
    max_cpu: MaxCpu = None,
    max_memory: MaxMemory = None,
    max_disk: MaxDisk = None,
    max_temporary: MaxTemporary = None,
    key: Annotated[bool, typer.Option(help="Also make its first API key.")] = True,
    json: Json = False,
) -> None:
    """Create a tenant (and its first API key, printed once)."""
    admin = Admin(client(ctx))
    tenant = admin.create_tenant(name, **_quotas(
        workspaces=max_workspaces, cpu=max_cpu, memory_mib=max_memory, disk_mib=max_disk,
        temporary=max_temporary))  # fmt: skip
    created = admin.create_key(name) if key else None
    if json:
        typer.echo(dumps({"tenant": tenant.model_dump(mode="json"),
                          "key": created.model_dump(mode="json") if created else None},
                         indent=2))  # fmt: skip
        return
    output.stdout.print(tenant.name)
    if created:
        output.stdout.print(created.key)
        output.stderr.print("[yellow]the key is shown this once: keep it[/]")


@tenant_app.command("ls")
@reporting
def tenant_ls(ctx: typer.Context, json: Json = False) -> None:
    """List tenants, with what they use of their quotas (used/limit)."""
    tenants = Admin(client(ctx)).tenants()
    if json:
        output.print_json([*tenants])
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAME", "WORKSPACES", "TEMPORARY", "CPU", "MEMORY", "DISK", "AGE"):
        table.add_column(column, no_wrap=True)
    for t in tenants:
        q, u = t.quotas, t.usage
        table.add_row(t.name, _used(u.workspaces, q.max_workspaces),
                      _used(u.temporary, q.max_temporary), _used(u.cpu, q.max_cpu),
                      _used(u.memory_mib, q.max_memory_mib, "Mi"),
                      _used(u.disk_mib, q.max_disk_mib, "Mi"),
                      render.age(t.created_at, datetime.now(UTC)))  # fmt: skip
    output.stdout.print(table)


@tenant_app.command("quota")
@reporting
def tenant_quota(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME")],
    max_workspaces: MaxWorkspaces = None,
    max_cpu: MaxCpu = None,
    max_memory: MaxMemory = None,
    max_disk: MaxDisk = None,
    max_temporary: MaxTemporary = None,
) -> None:
    """Set a tenant's quotas (those not given become unlimited)."""
    Admin(client(ctx)).set_quotas(name, **_quotas(
        workspaces=max_workspaces, cpu=max_cpu, memory_mib=max_memory, disk_mib=max_disk,
        temporary=max_temporary))  # fmt: skip
    output.stdout.print(name)


@tenant_app.command("rm")
@reporting
def tenant_rm(ctx: typer.Context, names: Annotated[list[str], typer.Argument(metavar="NAME")]
              ) -> None:  # fmt: skip
    """Delete tenants: revoke their keys, destroy all their workspaces (disks erased)."""
    for name in names:
        deleted = Admin(client(ctx)).delete_tenant(name)
        output.stdout.print(f"{name} ({deleted.workspaces_destroyed} workspaces destroyed)")


@key_app.command("create")
@reporting
def key_create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(metavar="TENANT")],
    role: Annotated[str, typer.Option(help="member, or admin (admin tenant only).")] = "member",
    json: Json = False,
) -> None:
    """Make an API key for a tenant and print it (this once: only its hash is kept)."""
    created = Admin(client(ctx)).create_key(tenant, role)
    if json:
        output.print_json(created)
    else:
        output.stdout.print(created.key)


@key_app.command("ls")
@reporting
def key_ls(
    ctx: typer.Context, tenant: Annotated[str, typer.Argument(metavar="TENANT")], json: Json = False
) -> None:
    """List a tenant's keys (workspace tokens included) by prefix, with their last use."""
    keys = Admin(client(ctx)).keys(tenant)
    if json:
        output.print_json([*keys])
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "PREFIX", "ROLE", "OWNER", "CREATED", "LAST USED", "REVOKED"):
        table.add_column(column, no_wrap=True)
    for k in keys:
        table.add_row(k.id, k.prefix + "…", k.role, k.owner, _when(k.created_at),
                      _when(k.last_used_at), _when(k.revoked_at))  # fmt: skip
    output.stdout.print(table)


@key_app.command("revoke")
@reporting
def key_revoke(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Argument(metavar="TENANT")],
    key_ids: Annotated[list[str], typer.Argument(metavar="KEY_ID")],
) -> None:
    """Revoke keys: from now on they get 401."""
    for key_id in key_ids:
        Admin(client(ctx)).revoke_key(tenant, key_id)
        output.stdout.print(key_id)


@app.command("audit")
@reporting
def audit(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's calls.")] = None,
    action: Annotated[str | None, typer.Option(help="Only actions containing this.")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    json: Json = False,
) -> None:
    """The audit log: every mutating API call, newest first."""
    entries = Admin(client(ctx)).audit(tenant=tenant, action=action, limit=limit)
    if json:
        output.print_json([*entries])
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("TIME", "TENANT", "KEY", "STATUS", "ACTION", "TARGET"):
        table.add_column(column, no_wrap=True)
    for e in entries:
        target = " ".join(f"{k}={v}" for k, v in (e.target or {}).items())
        table.add_row(e.time.astimezone().strftime("%H:%M:%S"), e.tenant or "-",
                      (e.key_prefix or "-") + "…", str(e.status), e.action, target)  # fmt: skip
    output.stdout.print(table)
