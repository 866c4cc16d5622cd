"""ScriptedModel: a FAKE language model, deterministic, for tests and offline demos.

It is not an LLM: a script (a function of the conversation so far) decides the next
message. It drives the same tool-calling loop as a real model, so examples and tests run
the real agent code with no network. `serve_openai_compatible` exposes it over HTTP in the
OpenAI wire format, so `OpenAICompatible` itself is exercised too.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from corral.llm.messages import Message, ToolCall

Script = Callable[[list[Message]], Message]


class ScriptedModel:
    """A fake model: `script(messages)` returns the next assistant message."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.calls = 0

    def chat(self, messages: list[Message], tools: list[dict[str, Any]]) -> Message:
        self.calls += 1
        return self.script(messages)


_ids = itertools.count(1)


def call(name: str, **arguments: Any) -> Message:
    """An assistant message that calls one tool (a helper for writing scripts)."""
    return Message("assistant", None, (ToolCall(f"call_{next(_ids)}", name, arguments),))


def say(text: str) -> Message:
    return Message("assistant", text)


def last_tool_result(messages: list[Message]) -> str | None:
    for message in reversed(messages):
        if message.role == "tool":
            return message.content
    return None


@contextmanager
def serve_openai_compatible(model: ScriptedModel, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve the fake model at http://host:port/v1/chat/completions; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            reply = model.chat(
                [Message.from_wire(m) for m in body["messages"]], body.get("tools", [])
            )
            payload = json.dumps(
                {
                    "id": "fake",
                    "object": "chat.completion",
                    "model": "scripted",
                    "choices": [{"index": 0, "message": reply.to_wire(), "finish_reason": "stop"}],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}/v1"
    finally:
        server.shutdown()
        server.server_close()
