"""The agent of pattern 3: answers questions from PostgreSQL and the search service.

It reaches `db.corral.internal:5432` and `search.corral.internal:7700` over its private
links, and nothing else. Offline, the ScriptedModel (a fake) picks the tool.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

from corral.llm import Message, ScriptedModel, Tool, from_env, run_tools
from corral.llm.scripted import call, last_tool_result, say


def sql(query: str) -> str:
    out = subprocess.run(["psql", "-h", "db.corral.internal", "-U", "app", "-d", "shop", "-tA",
                          "-c", query], capture_output=True, text=True, timeout=10)  # fmt: skip
    return out.stdout.strip() if out.returncode == 0 else f"error: {out.stderr.strip()}"


def search(words: str) -> str:
    url = "http://search.corral.internal:7700/search?q=" + urllib.parse.quote(words)
    with urllib.request.urlopen(url, timeout=5) as response:
        return ", ".join(json.load(response)["hits"]) or "nothing"


TOOLS = [
    Tool("sql", "query the shop database", {"type": "object", "properties": {
        "query": {"type": "string"}}}, sql),  # fmt: skip
    Tool("search", "search the documents", {"type": "object", "properties": {
        "words": {"type": "string"}}}, search),  # fmt: skip
]


def scripted(messages: list[Message]) -> Message:
    question = messages[0].content or ""
    result = last_tool_result(messages)
    if result is not None:
        return say(result)
    if "how many" in question.lower():
        return call("sql", query="SELECT count(*) FROM products WHERE price > 10")
    return call("search", words=question.rsplit(" ", 1)[-1].strip("?"))


if __name__ == "__main__":
    model = from_env() if os.environ.get("CORRAL_LLM_BASE_URL") else ScriptedModel(scripted)
    answers = [run_tools(model, [Message("user", q)], TOOLS)[0] for q in json.load(sys.stdin)]
    json.dump(answers, sys.stdout)
