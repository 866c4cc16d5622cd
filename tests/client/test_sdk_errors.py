"""Mapping failed responses and dead connections to corral's exception classes."""

from __future__ import annotations

import json

import httpx

from corral.client import errors
from corral.errors import Conflict, CorralError, InvalidSpec, NotFound, RuntimeFailure, Unauthorized


def body(code: str, message: str, hint: str | None = None) -> bytes:
    return json.dumps({"error": code, "message": message, "hint": hint}).encode()


def test_the_error_code_picks_the_class_and_keeps_message_and_hint() -> None:
    exc = errors.from_response(409, body("conflict", "cannot pause", "resume it first"))
    assert type(exc) is Conflict
    assert (exc.message, exc.hint) == ("cannot pause", "resume it first")
    assert type(errors.from_response(422, body("invalid_spec", "bad"))) is InvalidSpec
    assert type(errors.from_response(500, body("runtime_failure", "crun"))) is RuntimeFailure


def test_an_unknown_code_falls_back_to_the_status() -> None:
    assert type(errors.from_response(404, body("route_not_found", "no route"))) is NotFound
    assert type(errors.from_response(405, body("method_not_allowed", "no"))) is CorralError


def test_a_body_that_is_not_corral_json_still_says_something() -> None:
    exc = errors.from_response(401, b"<html>go away</html>")
    assert type(exc) is Unauthorized
    assert "401" in exc.message and "go away" in exc.message
    assert errors.from_response(502, b"").message == "HTTP 502"


def test_connection_refused_hints_at_the_daemon() -> None:
    exc = errors.from_transport(httpx.ConnectError("refused"), "http://127.0.0.1:1")
    assert "cannot connect" in exc.message
    assert exc.hint == errors.CONNECT_HINT
    timeout = errors.from_transport(httpx.ReadTimeout("slow"), "http://x")
    assert "did not answer" in timeout.message
