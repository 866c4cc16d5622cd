"""The store on a real PostgreSQL server (`CORRAL_DATABASE_URL`), the scale-out store.

A PostgreSQL 15 server (Debian's) runs for this module in a temporary directory, reachable
only on a Unix socket there. A daemon stores everything in it: workspaces, events, keys,
secrets, tenants. The same things must hold as on SQLite: names are unique per owner (a
409, not a 500), secrets are never stored in plaintext, a `kill -9` of the daemon loses
nothing, and a destroy erases the disk key from the database.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from tests.conftest import Daemon, side_daemon

pytestmark = pytest.mark.integration

SECRET = "pg-planted-secret-8c1f2e"


def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        pytest.fail("PostgreSQL is not installed (scripts/install.sh test installs it)")
    return versions[-1].parent


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server; yields the socket directory."""
    binaries = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="corral-pg-"))
    shutil.chown(base, "postgres")
    data, log = base / "data", base / "server.log"

    def as_postgres(*argv: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       capture_output=True, cwd=base)  # fmt: skip

    as_postgres(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "corral")
    as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                "-o", f"-k {base} -c listen_addresses=''", "start")  # fmt: skip
    try:
        as_postgres(str(binaries / "createdb"), "-h", str(base), "-U", "corral", "corral")
        yield str(base)
    finally:
        as_postgres(str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


def rows(socket_dir: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(host=socket_dir, user="corral", dbname="corral") as conn:
        return list(conn.execute(sql, args).fetchall())


@pytest.fixture(scope="module")
def pg_daemon(server: Daemon, postgres: str) -> Iterator[Daemon]:
    url = f"postgresql+psycopg://corral@/corral?host={postgres}"
    with side_daemon(server, "pg", CORRAL_DATABASE_URL=url) as daemon:
        yield daemon


def test_workspaces_live_in_postgres_and_survive_a_daemon_crash(
    pg_daemon: Daemon, postgres: str
) -> None:
    with pg_daemon.http() as http:
        created = http.post("/v1/workspaces", json={
            "name": "pg-agent", "command": "sleep infinity", "restart": "always", "disk_mib": 16,
            "env": {"MODE": "x", "TOKEN": {"value": SECRET, "secret": True}},
        })  # fmt: skip
        assert created.status_code == 201, created.text
        wid = created.json()["id"]
        written = http.post(
            f"/v1/workspaces/{wid}/exec",
            json={"command": 'echo kept > /data/note; printf %s "$TOKEN"'},
        )
        assert written.json()["stdout"] == SECRET
    # Everything is in PostgreSQL; there is no SQLite file.
    assert rows(postgres, "SELECT name, state FROM workspaces WHERE id = %s", wid) == [
        ("pg-agent", "running")
    ]
    assert not (pg_daemon.state_dir / "corral.db").exists()
    assert rows(postgres, "SELECT count(*) FROM events WHERE workspace_id = %s", wid)[0][0] >= 1
    # The secret is sealed at rest: not in any table of the database.
    dump = subprocess.run(["runuser", "-u", "postgres", "--", str(_pg_bin() / "pg_dump"),
                           "-h", postgres, "-U", "corral", "corral"],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "pg-agent" in dump and SECRET not in dump

    pg_daemon.kill9()
    pg_daemon.start()
    with pg_daemon.http() as http:
        again = http.post(f"/v1/workspaces/{wid}/exec", json={"command": "cat /data/note"})
        assert again.json()["stdout"] == "kept\n"
        keys_before = rows(postgres, "SELECT count(*) FROM keys")[0][0]
        assert http.delete(f"/v1/workspaces/{wid}").json()["state"] == "destroyed"
    # Crypto-erasure: the disk's and the env's wrapped keys are gone from the database.
    assert rows(postgres, "SELECT count(*) FROM keys")[0][0] <= keys_before - 2


def test_names_conflict_cleanly_under_concurrent_creates(pg_daemon: Daemon) -> None:
    def create(_: int) -> int:
        with pg_daemon.http() as http:
            return http.post("/v1/workspaces", json={"name": "pg-race"}).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = sorted(pool.map(create, range(6)))
    assert codes == [201, 409, 409, 409, 409, 409], codes
    with pg_daemon.http() as http:
        listed = [w for w in http.get("/v1/workspaces").json()["workspaces"]
                  if w["name"] == "pg-race"]  # fmt: skip
        assert len(listed) == 1
        http.delete(f"/v1/workspaces/{listed[0]['id']}")


def test_tenants_and_their_keys_work_on_postgres(pg_daemon: Daemon, postgres: str) -> None:
    with pg_daemon.http() as http:
        made = http.post("/v1/admin/tenants", json={"name": "pg-tenant"})
        assert made.status_code == 201, made.text
        key = http.post("/v1/admin/tenants/pg-tenant/keys", json={}).json()["key"]
    with httpx.Client(base_url=pg_daemon.url, headers={"Authorization": f"Bearer {key}"}) as t:
        ws = t.post("/v1/workspaces", json={"name": "mine"}).json()
        assert t.get("/v1/workspaces").json()["workspaces"][0]["id"] == ws["id"]
    stored = [h for (h,) in rows(postgres, "SELECT hash FROM api_keys")]
    assert key not in stored and all(len(h) == 64 for h in stored)
    with pg_daemon.http() as http:
        gone = http.delete("/v1/admin/tenants/pg-tenant")
        assert gone.status_code == 200 and gone.json()["workspaces_destroyed"] == 1
    assert rows(postgres, "SELECT state FROM workspaces WHERE id = %s", ws["id"]) == [
        ("destroyed",)
    ]
