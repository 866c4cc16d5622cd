from corral.llm import Message, OpenAICompatible, ScriptedModel, Tool, run_tools
from corral.llm.scripted import call, last_tool_result, say, serve_openai_compatible


def adder_script(messages: list[Message]) -> Message:
    result = last_tool_result(messages)
    if result is None:
        return call("add", a=2, b=40)
    return say(f"the answer is {result}")


ADD = Tool(
    "add",
    "add two numbers",
    {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}},
    lambda a, b: a + b,
)


def test_tool_loop_with_scripted_model() -> None:
    model = ScriptedModel(adder_script)
    answer, transcript = run_tools(model, [Message("user", "2+40?")], [ADD])
    assert answer == "the answer is 42"
    assert [m.role for m in transcript] == ["user", "assistant", "tool", "assistant"]
    assert model.calls == 2


def test_openai_wire_format_round_trip_over_http() -> None:
    model = ScriptedModel(adder_script)
    with serve_openai_compatible(model) as base_url:
        client = OpenAICompatible(base_url, "scripted", api_key="k")
        answer, _ = run_tools(client, [Message("user", "2+40?")], [ADD])
        client.close()
    assert answer == "the answer is 42"


def test_tool_errors_are_shown_to_the_model() -> None:
    boom = Tool("boom", "fails", {"type": "object"}, lambda: 1 / 0)
    seen: list[str | None] = []

    def script(messages: list[Message]) -> Message:
        result = last_tool_result(messages)
        if result is None:
            return call("boom")
        seen.append(result)
        return say("recovered")

    answer, _ = run_tools(ScriptedModel(script), [Message("user", "go")], [boom])
    assert answer == "recovered" and seen[0] is not None and "ZeroDivisionError" in seen[0]
