"""Pattern 5, a multi-agent network: create -> delegate -> collect -> destroy.

An orchestrator (in its own workspace, with a scoped token) splits a task and spawns three
specialists, each with a private link back to the orchestrator only:
- a researcher, with internet on, fetches a page (set RESEARCH_URL; in the tests the
  "internet" is a namespace the test made, with its own web server);
- a coder writes a program into its files;
- a tester, air-gapped, runs the program and reports.
Each specialist posts its result to the orchestrator's inbox (:9000, over its link); the
orchestrator collects, then destroys them all: nothing is left.
Run: `CORRAL_URL=... CORRAL_API_KEY=... RESEARCH_URL=http://... python examples/05_multi_agent.py`
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from corral import Client

ORCHESTRATOR = Path(__file__).parent / "multi_agent" / "orchestrator.py"


def run(client: Client, research_url: str) -> dict[str, object]:
    # Its token may create children with internet (the researcher); at most 3, 5 min each.
    policy = {"internet": True, "max_children": 3, "max_ttl_seconds": 300}
    orchestrator = client.workspaces.create("orchestrator", api_access=True, child_policy=policy)
    try:
        orchestrator.files.write("/app/orchestrator.py", ORCHESTRATOR.read_bytes())
        out = orchestrator.exec(["python3", "/app/orchestrator.py", research_url], timeout=180)
        if not out.ok:
            raise RuntimeError(f"orchestrator failed: {out.stderr[-2000:]}")
        report = json.loads(out.stdout)
    finally:
        orchestrator.destroy()
    report["left_behind"] = [w.name for w in client.workspaces.list(labels={"team": "task-1"})]
    return report


if __name__ == "__main__":
    url = os.environ.get("RESEARCH_URL")
    if not url:
        raise SystemExit("set RESEARCH_URL to a page the researcher may fetch")
    with Client() as client:
        print(json.dumps(run(client, url), indent=2))
