"""Decoding server-sent events from the exec stream, line by line."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from corral.client.models import ExecResult, OutputChunk
from corral.client.streams import ExecStreamDecoder, ServerSentEvent, SSEDecoder
from corral.errors import CorralError, NotFound


def feed_all(decoder: SSEDecoder | ExecStreamDecoder, text: str) -> list[object]:
    events = (decoder.feed(line) for line in text.split("\n"))
    return [event for event in events if event is not None]


def event(name: str, payload: Mapping[str, object]) -> str:
    return f"event: {name}\ndata: {json.dumps(payload)}\n\n"


def test_sse_fields_comments_and_multiline_data() -> None:
    text = ": keep-alive\n\nevent: a\ndata: one\ndata:two\n\ndata: plain\n\n"
    assert feed_all(SSEDecoder(), text) == [
        ServerSentEvent("a", "one\ntwo"),
        ServerSentEvent("message", "plain"),
    ]


def test_exec_stream_yields_chunks_then_the_whole_result() -> None:
    decoder = ExecStreamDecoder()
    text = (
        event("stdout", {"data": "hel"})
        + event("stderr", {"data": "oops\n"})
        + event("stdout", {"data": "lo\n"})
        + event("exit", {"exit_code": 3, "timed_out": False, "duration_ms": 4.5})
    )
    events = feed_all(decoder, text)
    assert events[:3] == [
        OutputChunk("stdout", "hel"),
        OutputChunk("stderr", "oops\n"),
        OutputChunk("stdout", "lo\n"),
    ]
    result = events[3]
    assert isinstance(result, ExecResult)
    assert (result.exit_code, result.stdout, result.stderr) == (3, "hello\n", "oops\n")
    assert decoder.finish() is result


def test_chunks_unpack_as_stream_and_text() -> None:
    stream, text = OutputChunk("stderr", "x")
    assert (stream, text) == ("stderr", "x")


def test_a_stream_cut_short_is_an_error() -> None:
    decoder = ExecStreamDecoder()
    feed_all(decoder, event("stdout", {"data": "partial"}))
    with pytest.raises(CorralError, match="ended before"):
        decoder.finish()


def test_an_error_event_raises_the_mapped_error() -> None:
    payload = {"error": "not_found", "message": "gone", "hint": None}
    with pytest.raises(NotFound, match="gone"):
        feed_all(ExecStreamDecoder(), event("error", payload))


def test_unknown_events_are_skipped() -> None:
    assert feed_all(ExecStreamDecoder(), event("progress", {"pct": 5})) == []
