"""The storage and secrets verbs of the CLI (and the SDK calls under them) against a real daemon:
`corral secret`, `corral volume`, `create --disk/--volume/--secret-env/--template`,
`corral snapshot`, `corral fork`, `corral template`, `corral admin rotate-master-key`."""

from __future__ import annotations

import json

import pytest
from tests.client.test_cli_integration import Corral
from tests.conftest import Daemon
from typer.testing import CliRunner, Result

from corral import Client
from corral.cli.main import app

pytestmark = pytest.mark.integration


@pytest.fixture
def corral(server: Daemon) -> Corral:
    env = {"CORRAL_URL": server.url, "CORRAL_API_KEY": server.api_key}

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), env=env, input=input)

    return run


def test_secret_set_from_stdin_ls_rm(corral: Corral, client: Client, unique_name: str) -> None:
    name = unique_name[:40]
    assert corral("secret", "set", name, input="s3cr3t-from-stdin\n").exit_code == 0
    listed = corral("secret", "ls", "--json")
    assert name in [s["name"] for s in json.loads(listed.output)]
    assert "s3cr3t" not in listed.output and "s3cr3t" not in corral("secret", "ls").output
    created = corral("create", unique_name, "--secret-env", f"TOKEN={name}")
    assert created.exit_code == 0, created.output
    ws = client.workspaces.get(unique_name)
    assert ws.exec("echo $TOKEN").stdout == "s3cr3t-from-stdin\n"
    assert ws.secret_env_names == ["TOKEN"]
    in_use = corral("secret", "rm", name)
    assert in_use.exit_code == 1 and "used by" in in_use.output
    ws.destroy()
    assert corral("secret", "rm", name).exit_code == 0
    assert name not in [s.name for s in client.secrets.list()]


def test_volume_disk_snapshot_fork_template(
    corral: Corral, client: Client, unique_name: str
) -> None:
    assert corral("volume", "create", unique_name, "--size", "16").exit_code == 0
    assert unique_name in corral("volume", "ls").output
    created = corral("create", unique_name, "--disk", "16", "-v", f"{unique_name}:/mnt/v:ro")
    assert created.exit_code == 0, created.output
    ws = client.workspaces.get(unique_name)
    assert ws.disk_mib == 16 and ws.volumes[0].readonly
    ws.exec("echo kept > /data/f")
    snap = corral("snapshot", unique_name, f"{unique_name}-t")
    assert snap.exit_code == 0 and " ms)" in snap.output
    assert f"{unique_name}-t" in corral("template", "ls").output
    fork = corral("fork", unique_name, f"{unique_name}-f", "--json")
    assert fork.exit_code == 0, fork.output
    forked = client.workspaces.get(json.loads(fork.output)["id"])
    assert forked.exec("cat /data/f").stdout == "kept\n"
    derived = corral("create", f"{unique_name}-d", "--template", f"{unique_name}-t")
    assert derived.exit_code == 0, derived.output
    assert client.workspaces.get(f"{unique_name}-d").exec("cat /data/f").stdout == "kept\n"
    assert corral("volume", "rm", unique_name).exit_code == 1  # attached
    assert corral("rm", unique_name, f"{unique_name}-f", f"{unique_name}-d").exit_code == 0
    assert corral("template", "rm", f"{unique_name}-t").exit_code == 0
    assert corral("volume", "rm", unique_name).exit_code == 0


def test_rotate_master_key(corral: Corral, server: Daemon) -> None:
    before = (server.state_dir / "master.key").read_bytes()
    result = corral("admin", "rotate-master-key")
    assert result.exit_code == 0 and "re-wrapped" in result.output
    assert (server.state_dir / "master.key").read_bytes() != before
