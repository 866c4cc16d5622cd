"""Daemon settings: flags override environment variables, which override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 7777
DEFAULT_SUBNET = "10.77.0.0/16"


def _list_env(name: str) -> tuple[str, ...] | None:
    """A comma-separated list from the environment; None when the variable is not set."""
    if name not in os.environ:
        return None
    return tuple(item.strip() for item in os.environ[name].split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CORRAL_STATE_DIR", "/var/lib/corral"))
    )
    # Runtime state lives on tmpfs: after a host reboot no container exists, and none is claimed.
    run_dir: Path = field(
        default_factory=lambda: Path(os.environ.get("CORRAL_RUN_DIR", "/run/corral"))
    )
    host: str = field(default_factory=lambda: os.environ.get("CORRAL_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("CORRAL_PORT", DEFAULT_PORT)))
    runtime: str = field(default_factory=lambda: os.environ.get("CORRAL_RUNTIME", "auto"))
    database_url: str | None = field(default_factory=lambda: os.environ.get("CORRAL_DATABASE_URL"))
    supervise_interval: float = field(
        default_factory=lambda: float(os.environ.get("CORRAL_SUPERVISE_INTERVAL", "0.25"))
    )
    restart_backoff_cap: float = field(
        default_factory=lambda: float(os.environ.get("CORRAL_RESTART_BACKOFF_CAP", "30"))
    )
    # Seconds between two metrics samples of every workspace.
    metrics_interval: float = field(
        default_factory=lambda: float(os.environ.get("CORRAL_METRICS_INTERVAL", "5"))
    )
    # A workspace whose writable layer grows past this many MiB is flagged (0: never).
    rootfs_warn_mib: int = field(
        default_factory=lambda: int(os.environ.get("CORRAL_ROOTFS_WARN_MIB", "10240"))
    )
    # The operator's master key (64 hex digits); default: <state_dir>/master.key, made once.
    master_key_path: Path | None = field(
        default_factory=lambda: Path(p) if (p := os.environ.get("CORRAL_MASTER_KEY_FILE")) else None
    )
    # Warm pools: "image=size,..." (e.g. "host=4"); empty: none.
    warm_pool: str = field(default_factory=lambda: os.environ.get("CORRAL_WARM_POOL", "host=2"))
    # On shutdown, stop every workspace (default: leave them running, re-adopted on start).
    stop_workspaces_on_exit: bool = field(
        default_factory=lambda: os.environ.get("CORRAL_STOP_ON_EXIT", "") in ("1", "true")
    )
    # The workspaces' private network: one address each from this IPv4 range. Two daemons on
    # one host need two ranges that do not overlap.
    subnet: str = field(default_factory=lambda: os.environ.get("CORRAL_SUBNET", DEFAULT_SUBNET))
    # Where workspaces with internet on go out (NAT): a host interface; default: the one of
    # the host's default route.
    uplink: str | None = field(default_factory=lambda: os.environ.get("CORRAL_UPLINK") or None)
    # The resolvers workspaces use, comma-separated; default: the host's (loopback stubs
    # such as systemd-resolved's are skipped for the upstream servers behind them).
    nameservers: tuple[str, ...] | None = field(default_factory=lambda: _list_env("CORRAL_DNS"))

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'corral.db'}"

    @property
    def admin_key_file(self) -> Path:
        return self.state_dir / "admin.key"

    @property
    def workspaces_dir(self) -> Path:
        return self.state_dir / "workspaces"

    @property
    def images_dir(self) -> Path:
        return self.state_dir / "images"

    @property
    def master_key_file(self) -> Path:
        return self.master_key_path or self.state_dir / "master.key"

    @property
    def disks_dir(self) -> Path:
        return self.state_dir / "disks"  # encrypted disk images

    @property
    def disk_mounts_dir(self) -> Path:
        return self.run_dir / "disks"  # where they are mounted (gone after a reboot, as are mounts)

    @property
    def templates_dir(self) -> Path:
        return self.state_dir / "templates"

    def workspace_dir(self, workspace_id: str) -> Path:
        return self.workspaces_dir / workspace_id


def parse_pools(spec: str) -> dict[str, int]:
    """`"host=4,debian=2"` -> {"host": 4, "debian": 2}."""
    pools: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        image, sep, size = item.partition("=")
        if not sep or not size.isdigit():
            raise ValueError(f"CORRAL_WARM_POOL entry {item!r} must look like image=size")
        pools[image] = int(size)
    return pools
