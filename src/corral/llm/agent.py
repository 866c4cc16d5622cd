"""The tool-calling loop: ask the model, run the tools it calls, feed results back."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corral.llm.messages import ChatModel, Message


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON schema of the arguments
    run: Callable[..., Any]

    def spec(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


def run_tools(
    model: ChatModel, messages: list[Message], tools: list[Tool], max_steps: int = 10
) -> tuple[str, list[Message]]:
    """Run the conversation until the model answers in text; return it and the transcript."""
    by_name = {tool.name: tool for tool in tools}
    transcript = list(messages)
    for _ in range(max_steps):
        reply = model.chat(transcript, [tool.spec() for tool in tools])
        transcript.append(reply)
        if not reply.tool_calls:
            return reply.content or "", transcript
        for call in reply.tool_calls:
            tool = by_name.get(call.name)
            try:
                result = tool.run(**call.arguments) if tool else f"unknown tool {call.name!r}"
            except Exception as exc:  # the model sees the error and can recover
                result = f"error: {type(exc).__name__}: {exc}"
            content = result if isinstance(result, str) else json.dumps(result, default=str)
            transcript.append(Message("tool", content, tool_call_id=call.id))
    raise RuntimeError(f"the model did not finish within {max_steps} steps")
