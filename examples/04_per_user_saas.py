"""Pattern 4, per-user isolated workspaces: a small SaaS web app (FastAPI).

Sign-up creates a workspace per user: its own encrypted disk and key, paused when idle.
Each user's requests run in their own workspace (a paused one resumes in milliseconds);
account deletion destroys it by cryptographic erasure.
Run: `CORRAL_URL=... CORRAL_API_KEY=... uvicorn --app-dir examples 04_per_user_saas:app`
(module names starting with a digit: `python -c "import runpy; runpy.run_path(...)"` or
use `make_app()` from your own code, as the test does).
"""

from __future__ import annotations

import re
import time

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from corral import Client, NotFound

USER = re.compile(r"^[a-z0-9]{1,32}$")


class Run(BaseModel):
    code: str


def make_app(client: Client, idle_timeout_seconds: int = 60) -> FastAPI:
    app = FastAPI(title="notebooks-as-a-service")

    def workspace_of(user: str):  # type: ignore[no-untyped-def]
        if not USER.match(user):
            raise HTTPException(422, "user names are 1-32 lowercase letters or digits")
        try:
            return client.workspaces.get(f"user-{user}")
        except NotFound:
            raise HTTPException(404, f"no user {user}") from None

    @app.post("/signup/{user}", status_code=201)
    def signup(user: str) -> dict[str, object]:
        if not USER.match(user):
            raise HTTPException(422, "user names are 1-32 lowercase letters or digits")
        ws = client.workspaces.create(
            f"user-{user}", disk_mib=64, memory_mib=256, cpu=0.5, pids=128,
            idle_timeout_seconds=idle_timeout_seconds, labels={"app": "saas", "user": user},
        )  # fmt: skip
        return {"user": user, "workspace": ws.id}

    @app.post("/users/{user}/run")
    def run(user: str, body: Run) -> dict[str, object]:
        ws = workspace_of(user)
        was = ws.state
        started = time.perf_counter()
        result = ws.exec(["python3", "-c", body.code], cwd="/data", timeout=30)
        return {"stdout": result.stdout, "stderr": result.stderr, "exit_code": result.exit_code,
                "was": was, "ms": round((time.perf_counter() - started) * 1000, 1)}  # fmt: skip

    @app.get("/users/{user}")
    def status(user: str) -> dict[str, object]:
        ws = workspace_of(user)
        return {"user": user, "state": ws.state, "paused_reason": ws.paused_reason}

    @app.delete("/users/{user}", status_code=204)
    def delete(user: str) -> None:
        workspace_of(user).destroy()  # the disk's key is erased: its data is unrecoverable

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app(Client()), host="127.0.0.1", port=8000)
