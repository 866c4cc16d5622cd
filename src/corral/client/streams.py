"""Decoding the exec stream: server-sent events in, output chunks and a final result out.

Pure and incremental (one line at a time), so the sync and async clients feed it from their
own line iterators and share everything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from corral.client import errors
from corral.client.models import Event, ExecResult, OutputChunk
from corral.errors import CorralError

_STREAMS: dict[str, Literal["stdout", "stderr"]] = {"stdout": "stdout", "stderr": "stderr"}


@dataclass(frozen=True)
class ServerSentEvent:
    event: str
    data: str


@dataclass
class SSEDecoder:
    """The text/event-stream format, reduced to the `event` and `data` fields."""

    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line (without its newline); return an event when a blank line ends one."""
        if not line:
            if not self._event and not self._data:
                return None
            event = ServerSentEvent(self._event or "message", "\n".join(self._data))
            self._event, self._data = "", []
            return event
        if line.startswith(":"):  # a comment, e.g. a keep-alive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        return None


@dataclass
class ExecStreamDecoder:
    """Turns the exec stream into `OutputChunk`s and, last, the complete `ExecResult`."""

    _sse: SSEDecoder = field(default_factory=SSEDecoder)
    _output: dict[str, list[str]] = field(default_factory=lambda: {"stdout": [], "stderr": []})
    result: ExecResult | None = None

    def feed(self, line: str) -> OutputChunk | ExecResult | None:
        event = self._sse.feed(line)
        if event is None:
            return None
        stream = _STREAMS.get(event.event)
        if stream is not None:
            text: str = json.loads(event.data)["data"]
            self._output[stream].append(text)
            return OutputChunk(stream, text)
        if event.event == "exit":
            output = {name: "".join(texts) for name, texts in self._output.items()}
            self.result = ExecResult.model_validate({**json.loads(event.data), **output})
            return self.result
        if event.event == "error":
            raise errors.from_response(500, event.data.encode())
        return None  # an event this client does not know yet

    def finish(self) -> ExecResult:
        """The result, once the stream has ended; an error if it ended before the command."""
        if self.result is None:
            raise CorralError(
                "the exec stream ended before the command finished",
                hint="the daemon may have restarted; check `corral logs` and try again",
            )
        return self.result


@dataclass
class EventStreamDecoder:
    """Lines of `/v1/events/stream` in, `Event`s out (keepalive comments are skipped)."""

    _sse: SSEDecoder = field(default_factory=SSEDecoder)

    def feed(self, line: str) -> Event | None:
        if line.startswith(":"):
            return None
        event = self._sse.feed(line)
        return Event.model_validate_json(event.data) if event is not None else None
