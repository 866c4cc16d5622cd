"""Daemon settings: flags override environment variables, which override defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PORT = 7777


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
    # On shutdown, stop every workspace (default: leave them running, re-adopted on start).
    stop_workspaces_on_exit: bool = field(
        default_factory=lambda: os.environ.get("CORRAL_STOP_ON_EXIT", "") in ("1", "true")
    )

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

    def workspace_dir(self, workspace_id: str) -> Path:
        return self.workspaces_dir / workspace_id
