"""Pattern 1, a persistent agent: deployed once, always restarted, remembers on its disk.

Deploys ./assistant_agent as a managed process (restart `always`, encrypted /data disk),
tells it a fact, kills its process, and asks again: it comes back and still knows.
Run: `CORRAL_URL=... CORRAL_API_KEY=... python examples/01_persistent_assistant.py`
"""

from __future__ import annotations

from pathlib import Path

from _util import json_of, port, wait_for

from corral import Client

AGENT_DIR = Path(__file__).parent / "assistant_agent"


def ask(client: Client, question: str) -> str:
    with port(client, "assistant", 8080) as http:
        return str(json_of(http.post("/chat", json={"message": question}))["answer"])


def ready(client: Client) -> None:
    with port(client, "assistant", 8080) as http:
        wait_for(lambda: http.get("/health").status_code == 200, timeout=30)


def run(client: Client) -> dict[str, object]:
    agent = client.deploy(str(AGENT_DIR), "assistant", disk_mib=64, ports=[8080],
                          api_access=True)  # fmt: skip
    ready(client)
    first = ask(client, "My name is Ada")
    # Kill the agent's process from inside: the supervisor brings it back.
    agent.exec("kill -9 $(cat /proc/1/task/1/children)")
    wait_for(lambda: agent.refresh().restart_count >= 1 and agent.state == "running")
    ready(client)
    second = ask(client, "What is my name?")
    return {"first": first, "after_kill": second, "restarts": agent.refresh().restart_count}


if __name__ == "__main__":
    with Client() as client:
        print(run(client))
