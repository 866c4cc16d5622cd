"""Pattern 2, agent + sandboxes: untrusted code runs in a new air-gapped sandbox each time.

An agent workspace (with API access: a token scoped to its own children) receives tasks;
each code run happens in a fresh sandbox with a 60 s TTL and tight limits, and the sandbox is
destroyed afterwards. Hostile snippets harm nothing: not the agent, not a bystander
workspace, and no sandbox is left behind.
Run: `CORRAL_URL=... CORRAL_API_KEY=... python examples/02_code_agent.py`
"""

from __future__ import annotations

import json
from pathlib import Path

from corral import Client

AGENT = Path(__file__).parent / "code_agent" / "agent.py"

TASKS = {
    "arithmetic": "print(sum(range(101)))",
    "rm -rf /": "import shutil; shutil.rmtree('/', ignore_errors=True); print('deleted')",
    "fork bomb": "import os\nwhile True:\n    os.fork()",
    "memory bomb": "x = bytearray(1 << 30); print(len(x))",
    "disk bomb": "import os; fd = os.open('/var/tmp/fill', os.O_CREAT | os.O_WRONLY)\n"
                 "os.posix_fallocate(fd, 0, 10 << 30); print('took 10 GiB of the host')",
    "network call": "import urllib.request; urllib.request.urlopen('http://example.com', "
                    "timeout=2); print('reached the internet')",
    "infinite loop": "while True: pass",
}


def run(client: Client) -> dict[str, object]:
    agent = client.workspaces.create("code-agent", api_access=True)
    bystander = client.workspaces.create("bystander")
    bystander.files.write("/srv/precious.txt", "still here")
    try:
        agent.files.write("/app/agent.py", AGENT.read_bytes())
        out = agent.exec(["python3", "/app/agent.py"], stdin=json.dumps(list(TASKS.values())),
                         timeout=120)  # fmt: skip
        if not out.ok:
            raise RuntimeError(f"agent failed: {out.stderr}")
        results = dict(zip(TASKS, json.loads(out.stdout), strict=True))
        left = [w.name for w in client.workspaces.list(labels={"role": "sandbox"})]
        return {
            "results": results,
            "agent_alive": agent.exec("echo alive").stdout.strip() == "alive",
            "bystander_intact": bystander.files.read_text("/srv/precious.txt") == "still here",
            "sandboxes_left": left,
        }
    finally:
        agent.destroy()
        bystander.destroy()


if __name__ == "__main__":
    with Client() as client:
        print(json.dumps(run(client), indent=2))
