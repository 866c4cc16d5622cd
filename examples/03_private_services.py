"""Pattern 3, agent + private services: a real PostgreSQL and a search service, each in a
workspace with no internet, reachable only over declared private links, one port each.

The database keeps its data on its encrypted /data disk; its password is a secret env value.
The agent answers questions from both; a third workspace with no links reaches neither.
Run: `CORRAL_URL=... CORRAL_API_KEY=... python examples/03_private_services.py`
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from _util import wait_for

from corral import Client

HERE = Path(__file__).parent / "services"
PG = "$(ls -d /usr/lib/postgresql/*/bin | tail -1)"
AS_USER = "setpriv --reuid=1000 --regid=1000 --clear-groups"
DB_COMMAND = (
    f"mkdir -p /data/pg /run/pg && chown 1000:1000 /data/pg /run/pg && "
    f"if [ ! -f /data/pg/PG_VERSION ]; then echo \"$PGPASSWORD\" > /run/pg/pw && "
    f"chown 1000 /run/pg/pw && {AS_USER} {PG}/initdb -D /data/pg -U app "
    f"--pwfile=/run/pg/pw --auth-local=trust --auth-host=scram-sha-256 >/dev/null && "
    f"rm /run/pg/pw && echo 'host all all 0.0.0.0/0 scram-sha-256' >> /data/pg/pg_hba.conf; "
    f"fi; exec {AS_USER} {PG}/postgres -D /data/pg -c listen_addresses='*' "
    f"-c unix_socket_directories=/run/pg"
)
DOCS = {
    "handbook": "Every disk is protected by encryption with its own key.",
    "faq": "Sandboxes are air-gapped and destroyed after their TTL.",
}


def run(client: Client) -> dict[str, object]:
    password = secrets.token_urlsafe(16)
    secret_pw = {"value": password, "secret": True}
    db = client.workspaces.create("db", command=DB_COMMAND, restart="always", disk_mib=256,
                                  env={"PGPASSWORD": secret_pw}, memory_mib=512)  # fmt: skip
    search = client.workspaces.create("search")
    for name, text in DOCS.items():
        search.files.write(f"/srv/docs/{name}.txt", text)
    search.files.write("/srv/search.py", (HERE / "search.py").read_bytes())
    search.update(command="python3 /srv/search.py", restart="always")  # starts the service
    local = "psql -h /run/pg -U app -d postgres -tAc"
    wait_for(lambda: db.exec(f"{local} 'select 1'").stdout.strip() == "1", timeout=60)
    db.exec(f"{local} 'create database shop'")
    seed = ("create table products (name text, price numeric); insert into products values "
            "('pen', 2), ('book', 12), ('lamp', 30), ('cup', 8), ('chair', 45)")  # fmt: skip
    db.exec(["psql", "-h", "/run/pg", "-U", "app", "-d", "shop", "-c", seed])

    agent = client.workspaces.create(
        "analyst", api_access=True, env={"PGPASSWORD": secret_pw},
        links=[{"to": "db", "port": 5432}, {"to": "search", "port": 7700}],
    )  # fmt: skip
    intruder = client.workspaces.create("intruder", env={"PGPASSWORD": secret_pw})
    try:
        agent.files.write("/app/analyst.py", (HERE / "analyst.py").read_bytes())
        questions = ["How many products cost more than 10?", "Which document mentions encryption?"]
        wait_for(lambda: agent.exec("python3 -c \"import urllib.request as u; u.urlopen("
                                    "'http://search.corral.internal:7700/search?q=x')\"").ok)
        out = agent.exec(["python3", "/app/analyst.py"], stdin=json.dumps(questions))
        answers = json.loads(out.stdout) if out.ok else [out.stderr]
        probe_db = intruder.exec(["psql", "-h", db.refresh().ip or "db", "-U", "app", "-d", "shop",
                                  "-c", "select 1"], timeout=10)  # fmt: skip
        probe_search = intruder.exec(["python3", "-c", "import socket; socket.create_connection("
                                      f"('{search.refresh().ip}', 7700), timeout=3)"],
                                     timeout=10)  # fmt: skip
        return {
            "answers": dict(zip(questions, answers, strict=False)),
            "intruder_reaches_db": probe_db.ok,
            "intruder_reaches_search": probe_search.ok,
            "db_internet": db.refresh().internet,
        }
    finally:
        for ws in (intruder, agent, search, db):
            ws.destroy()


if __name__ == "__main__":
    with Client() as client:
        print(json.dumps(run(client), indent=2))
