"""`corral deploy`: put a directory (agent code + requirements) into a permanent workspace.

The first deploy creates the workspace (idle), uploads the code to /app, installs
requirements.txt (into /app/.deps, on PYTHONPATH) if there is one, then sets the main
command with restart policy `always`, which starts it. A redeploy uploads the new code and
updates the workspace in place: same disk (/data), same address, restarted process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.errors import InvalidSpec, NotFound, RuntimeFailure

if TYPE_CHECKING:
    from corral.client.sync import Client, Workspace

APP_DIR = "/app"
DEPS_DIR = "/app/.deps"
SKIPPED_DIRS = {".git", ".venv", "venv", "__pycache__", "node_modules", ".mypy_cache",
                ".pytest_cache", ".ruff_cache"}  # fmt: skip
MAX_FILE_BYTES = 64 * 1024 * 1024
DEPLOY_LABEL = "corral.deploy"


@dataclass(frozen=True)
class Bundle:
    files: list[tuple[str, bytes, int]]  # path inside the workspace, content, mode
    command: str
    has_requirements: bool


def collect(directory: Path, command: str | None = None) -> Bundle:
    """Read what to upload and decide the main command (pure, no network)."""
    if not directory.is_dir():
        raise InvalidSpec(f"{directory} is not a directory")
    files = []
    for root, dirs, names in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                raise InvalidSpec(f"{path} is larger than {MAX_FILE_BYTES >> 20} MiB")
            relative = path.relative_to(directory).as_posix()
            files.append((f"{APP_DIR}/{relative}", path.read_bytes(), path.stat().st_mode & 0o777))
    if not files:
        raise InvalidSpec(f"{directory} holds no files to deploy")
    requirements = directory / "requirements.txt"
    has_requirements = requirements.is_file() and bool(requirements.read_text().strip())
    return Bundle(files, command or default_command(directory), has_requirements)


def default_command(directory: Path) -> str:
    for candidate in ("main.py", "app.py", "agent.py"):
        if (directory / candidate).is_file():
            return f"python3 -u {candidate}"
    if (directory / "run.sh").is_file():
        return "sh run.sh"
    raise InvalidSpec(f"cannot tell how to start {directory}",
                      hint="add main.py, or pass --command")  # fmt: skip


def deploy(
    client: Client,
    directory: str | Path,
    name: str,
    command: str | None = None,
    env: dict[str, Any] | None = None,
    disk_mib: int | None = 1024,
    **spec: Any,
) -> Workspace:
    """Deploy (or redeploy) `directory` as the permanent workspace `name`."""
    bundle = collect(Path(directory), command)
    try:
        workspace = client.workspaces.get(name)
        if workspace.state in ("destroyed", "destroying"):
            raise NotFound(name)
    except NotFound:
        create: dict[str, Any] = dict(spec, labels={DEPLOY_LABEL: "true", **spec.get("labels", {})})
        if disk_mib:
            create["disk_mib"] = disk_mib
        workspace = client.workspaces.create(name, **create)
    if workspace.state in ("stopped", "failed"):
        workspace.start()
    workspace.exec(["rm", "-rf", APP_DIR])
    for path, data, mode in bundle.files:
        workspace.files.write(path, data, mode=mode)
    if bundle.has_requirements:
        result = workspace.exec(
            ["python3", "-m", "pip", "install", "--quiet", "--target", DEPS_DIR,
             "-r", f"{APP_DIR}/requirements.txt"], timeout=900,
        )  # fmt: skip
        if not result.ok:
            raise RuntimeFailure(f"installing requirements failed: {result.stderr.strip()[-500:]}",
                                 hint="does the workspace have internet access?")  # fmt: skip
    run = f"cd {APP_DIR} && exec {bundle.command}"
    full_env = {"PYTHONPATH": DEPS_DIR, **(env or {})}
    return workspace.update(command=["/bin/sh", "-c", run], env=full_env, restart="always")


__all__ = ["Bundle", "collect", "default_command", "deploy"]
