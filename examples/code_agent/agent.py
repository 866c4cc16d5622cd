"""A code agent, running inside its own workspace with a scoped token.

For every task the model asks to run Python; each run gets a NEW air-gapped sandbox
(ttl=60, small limits), the result is read back, and the sandbox is destroyed. Tasks come
as JSON on stdin; results go to stdout as JSON. Offline, the ScriptedModel (a fake) writes
the code: the task text itself.
"""

from __future__ import annotations

import json
import os
import sys

from corral import Client
from corral.llm import Message, ScriptedModel, Tool, from_env, run_tools
from corral.llm.scripted import call, last_tool_result, say

client = Client()  # CORRAL_URL + CORRAL_TOKEN, set by corral inside this workspace
# Small limits, and a capped writable layer: a disk bomb hits ENOSPC, not the host's disk.
SANDBOX = {"memory_mib": 64, "pids": 64, "cpu": 0.5, "rootfs_mib": 64}


def run_python(code: str) -> dict[str, object]:
    with client.sandbox(ttl=60, labels={"role": "sandbox"}, **SANDBOX) as sandbox:
        result = sandbox.exec(["python3", "-c", code], timeout=3)
        return {"exit_code": result.exit_code, "stdout": result.stdout[-2000:],
                "stderr": result.stderr[-500:], "timed_out": result.timed_out}  # fmt: skip


TOOLS = [Tool("run_python", "run Python code in a fresh sandbox", {"type": "object",
              "properties": {"code": {"type": "string"}}}, run_python)]  # fmt: skip


def scripted(messages: list[Message]) -> Message:
    result = last_tool_result(messages)
    if result is None:
        return call("run_python", code=messages[0].content)
    return say(result)


def main() -> None:
    model = from_env() if os.environ.get("CORRAL_LLM_BASE_URL") else ScriptedModel(scripted)
    results = []
    for task in json.load(sys.stdin):
        answer, _ = run_tools(model, [Message("user", task)], TOOLS)
        results.append(json.loads(answer))
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
