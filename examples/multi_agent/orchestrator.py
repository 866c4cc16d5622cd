"""The orchestrator of pattern 5, running inside its own workspace with a scoped token.

Spawns a researcher (internet), a coder and a tester (air-gapped), each linked back to this
workspace's inbox on :9000 and to nothing else; delegates; collects; destroys them all.
Prints a JSON report on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from corral import Client

INBOX: dict[str, str] = {}
ME = os.environ["HOSTNAME"]
POST = """
import json, sys, urllib.request
body = json.dumps({{"text": {text}}}).encode()
urllib.request.urlopen(urllib.request.Request(
    "http://{me}.corral.internal:9000/{role}", data=body, method="POST"), timeout=10)
"""
RESEARCH = (
    "import sys, urllib.request; page = urllib.request.urlopen(sys.argv[1], timeout=10).read()"
)
SOLUTION = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
TEST = "import sys; sys.path.insert(0, '/work'); from solution import fib; ok = fib(10) == 55"


class Inbox(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        INBOX[self.path.strip("/")] = json.loads(body)["text"]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def wait(role: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while role not in INBOX:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no result from the {role}")
        time.sleep(0.05)
    return INBOX[role]


def main(research_url: str) -> None:
    threading.Thread(target=ThreadingHTTPServer(("0.0.0.0", 9000), Inbox).serve_forever,
                     daemon=True).start()  # fmt: skip
    client = Client()
    back = [{"to": ME, "port": 9000}]
    team = {"team": "task-1"}
    spawned = []
    try:
        researcher = client.workspaces.create("researcher", internet=True, links=back, labels=team,
                                              ttl_seconds=300)  # fmt: skip
        coder = client.workspaces.create("coder", links=back, labels=team, ttl_seconds=300)
        tester = client.workspaces.create("tester", links=back, labels=team, ttl_seconds=300)
        spawned = [researcher, coder, tester]
        # Delegate.
        done = researcher.exec(["python3", "-c", RESEARCH + POST.format(
            text="page[:120].decode(errors='replace')", me=ME, role="researcher"), research_url])
        if not done.ok:
            raise RuntimeError(f"the researcher failed: {done.stderr[-800:]}")
        coder.files.write("/work/solution.py", SOLUTION)
        coder.exec(["python3", "-c", "import sys" + POST.format(
            text="open('/work/solution.py').read()", me=ME, role="coder")])
        # Collect, then hand the coder's work to the tester.
        research, code = wait("researcher"), wait("coder")
        tester.files.write("/work/solution.py", code)
        tester.exec(["python3", "-c", TEST + POST.format(
            text="'passed' if ok else 'failed'", me=ME, role="tester")])
        verdict = wait("tester")
        # The tester is air-gapped: it cannot reach what the researcher reached.
        offline = tester.exec(["python3", "-c", RESEARCH, research_url], timeout=15)
        report = {"research": research, "code_lines": len(code.splitlines()),
                  "test": verdict, "tester_reached_internet": offline.ok}  # fmt: skip
    finally:
        for ws in spawned:
            ws.destroy()
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
