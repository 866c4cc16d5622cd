"""A small provider-neutral LLM client: OpenAI-compatible chat completions with tool calling.

`ChatModel` is the interface; `OpenAICompatible` talks to any OpenAI-compatible endpoint
(configured by env), `ScriptedModel` is a deterministic fake for tests and offline demos.
`run_tools` is the tool-calling loop both drive.
"""

from corral.llm.agent import Tool, run_tools
from corral.llm.messages import ChatModel, Message, ToolCall
from corral.llm.openai import OpenAICompatible, from_env
from corral.llm.scripted import ScriptedModel

__all__ = [
    "ChatModel",
    "Message",
    "OpenAICompatible",
    "ScriptedModel",
    "Tool",
    "ToolCall",
    "from_env",
    "run_tools",
]
