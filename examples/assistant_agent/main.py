"""A persistent assistant: chat over HTTP on :8080, conversation memory on the /data disk.

Deployed by `01_persistent_assistant.py` with `corral deploy`. Uses a real OpenAI-compatible
model when CORRAL_LLM_BASE_URL is set, otherwise the deterministic ScriptedModel (a fake).
"""

from __future__ import annotations

import json
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from corral.llm import Message, ScriptedModel, Tool, from_env, run_tools
from corral.llm.scripted import call, last_tool_result, say

MEMORY = Path(os.environ.get("MEMORY_FILE", "/data/memory.json"))


def load() -> dict[str, str]:
    return json.loads(MEMORY.read_text()) if MEMORY.exists() else {}


def remember(key: str, value: str) -> str:
    facts = load()
    facts[key] = value
    MEMORY.parent.mkdir(parents=True, exist_ok=True)
    tmp = MEMORY.with_suffix(".tmp")
    tmp.write_text(json.dumps(facts))
    tmp.replace(MEMORY)  # atomic: a crash never leaves half a memory
    return "ok"


def recall(key: str) -> str:
    return load().get(key, "unknown")


TOOLS = [
    Tool("remember", "store a fact about the user", {"type": "object", "properties": {
        "key": {"type": "string"}, "value": {"type": "string"}}}, remember),  # fmt: skip
    Tool("recall", "look up a fact about the user", {"type": "object", "properties": {
        "key": {"type": "string"}}}, recall),  # fmt: skip
]


def scripted(messages: list[Message]) -> Message:
    """The offline stand-in for an LLM: understands two sentences, uses the same tools."""
    question = next(m.content or "" for m in reversed(messages) if m.role == "user")
    result = last_tool_result(messages)
    if (match := re.match(r"my name is (\w+)", question, re.I)):
        return call("remember", key="name", value=match[1]) if result is None else say(
            f"Nice to meet you, {match[1]}.")  # fmt: skip
    if re.search(r"what is my name", question, re.I):
        return call("recall", key="name") if result is None else say(f"Your name is {result}.")
    return say("I can remember your name.")


MODEL = from_env() if os.environ.get("CORRAL_LLM_BASE_URL") else ScriptedModel(scripted)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self._reply(200, {"status": "ok", "facts": len(load())})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer, _ = run_tools(MODEL, [Message("user", body["message"])], TOOLS)
        self._reply(200, {"answer": answer})

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


if __name__ == "__main__":
    print(f"assistant up, {len(load())} facts remembered", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
