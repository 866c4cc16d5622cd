"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, Ollama, LiteLLM...).

Configured by environment: `CORRAL_LLM_BASE_URL` (or `OPENAI_BASE_URL`), `CORRAL_LLM_MODEL`,
and the key in `CORRAL_LLM_API_KEY` or `OPENAI_API_KEY` (in a workspace, give it as a
corral secret: `env={"OPENAI_API_KEY": {"secret": "openai"}}`).
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from corral.errors import CorralError
from corral.llm.messages import Message

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAICompatible:
    def __init__(
        self, base_url: str, model: str, api_key: str | None = None, timeout: float = 120.0
    ) -> None:
        self.model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def chat(self, messages: list[Message], tools: list[dict[str, Any]]) -> Message:
        body: dict[str, Any] = {"model": self.model, "messages": [m.to_wire() for m in messages]}
        if tools:
            body["tools"] = tools
        response = self._http.post("/chat/completions", json=body)
        if response.is_error:
            raise CorralError(
                f"LLM endpoint answered {response.status_code}: {response.text[:300]}"
            )
        return Message.from_wire(response.json()["choices"][0]["message"])

    def close(self) -> None:
        self._http.close()


def from_env() -> OpenAICompatible:
    base = os.environ.get("CORRAL_LLM_BASE_URL") or os.environ.get("OPENAI_BASE_URL")
    key = os.environ.get("CORRAL_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
    model = os.environ.get("CORRAL_LLM_MODEL", "gpt-4o-mini")
    return OpenAICompatible(base or DEFAULT_BASE_URL, model, key)
