"""A tiny search service: an inverted index over /srv/docs/*.txt, GET /search?q=word on :7700."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

INDEX: dict[str, set[str]] = defaultdict(set)
for doc in Path("/srv/docs").glob("*.txt"):
    for word in re.findall(r"\w+", doc.read_text().lower()):
        INDEX[word].add(doc.stem)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        query = parse_qs(urlparse(self.path).query).get("q", [""])[0].lower().split()
        hits = set.intersection(*(INDEX.get(w, set()) for w in query)) if query else set()
        data = json.dumps({"hits": sorted(hits)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


ThreadingHTTPServer(("0.0.0.0", 7700), Handler).serve_forever()
