"""Webhooks: signed deliveries to a loopback receiver, retries, dead letters."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from tests.conftest import Daemon
from tests.integration.test_disks import files_containing

from corral.engine.webhooks import sign

pytestmark = pytest.mark.integration


class Receiver:
    """A real HTTP server on loopback that records requests; fails the first `fail` ones."""

    def __init__(self, fail: int = 0) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                failing = len(receiver.requests) <= receiver.fail
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(check, timeout: float = 10):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met")


def test_signed_delivery_with_retry(http: httpx.Client, unique_name: str) -> None:
    receiver = Receiver(fail=1)
    try:
        created = http.post("/v1/webhooks", json={"url": receiver.url, "events": ["state"]})
        assert created.status_code == 201
        hook = created.json()
        assert hook["secret"].startswith("whsec_")
        assert "secret" not in http.get("/v1/webhooks").json()[0]
        ws = http.post("/v1/workspaces", json={"name": unique_name}).json()
        # First attempt fails (500), the retry ~1 s later succeeds.
        wait_for(lambda: len(receiver.requests) >= 2)
        headers, body = receiver.requests[-1]
        expected = sign(hook["secret"], headers["X-Corral-Timestamp"], body)
        assert headers["X-Corral-Signature"] == expected
        payload = json.loads(body)
        assert payload["type"] == "state" and payload["workspace_id"] == ws["id"]
        delivered = http.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "delivered"}
        ).json()
        assert delivered and delivered[0]["attempts"] == 2
        http.delete(f"/v1/workspaces/{ws['id']}")
        assert http.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
    finally:
        receiver.close()


def test_signing_secret_is_sealed_at_rest_and_erased_with_the_webhook(
    server: Daemon, http: httpx.Client, unique_name: str
) -> None:
    receiver = Receiver()
    try:
        hook = http.post("/v1/webhooks", json={"url": receiver.url, "events": ["state"]}).json()
        secret = hook["secret"]
        stored = server.query("SELECT secret FROM webhooks WHERE id = ?", hook["id"])[0][0]
        assert stored.startswith("sealed:") and secret not in stored
        os.sync()
        assert not files_containing([server.state_dir, server.log_path], [secret.encode()])
        key = f"webhook:{hook['id']}"
        assert server.query("SELECT key_id FROM keys WHERE key_id = ?", key)
        # A restart unseals it with the master key: deliveries are still signed right.
        server.kill9()
        server.start()
        with server.http() as again:
            ws = again.post("/v1/workspaces", json={"name": unique_name}).json()
            headers, body = wait_for(lambda: receiver.requests and receiver.requests[-1])
            assert headers["X-Corral-Signature"] == sign(secret, headers["X-Corral-Timestamp"],
                                                         body)  # fmt: skip
            again.delete(f"/v1/workspaces/{ws['id']}")
            assert again.delete(f"/v1/webhooks/{hook['id']}").status_code == 204
        assert not server.query("SELECT key_id FROM keys WHERE key_id = ?", key)
    finally:
        receiver.close()


def test_dead_letter_after_max_attempts(http: httpx.Client, unique_name: str) -> None:
    receiver = Receiver(fail=1000)
    try:
        hook = http.post(
            "/v1/webhooks", json={"url": receiver.url, "events": ["state"], "max_attempts": 2}
        ).json()
        ws = http.post("/v1/workspaces", json={"name": unique_name}).json()
        dead = wait_for(
            lambda: http.get(
                f"/v1/webhooks/{hook['id']}/deliveries", params={"status": "dead"}
            ).json(),
            10,
        )
        assert dead[0]["attempts"] == 2 and dead[0]["last_error"] == "HTTP 500"
        http.delete(f"/v1/workspaces/{ws['id']}")
        http.delete(f"/v1/webhooks/{hook['id']}")
    finally:
        receiver.close()


def test_bad_webhook_url_is_422(http: httpx.Client) -> None:
    response = http.post("/v1/webhooks", json={"url": "not a url"})
    assert response.status_code == 422 and response.json()["error"] == "invalid_spec"
