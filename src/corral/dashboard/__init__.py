"""The web dashboard: static HTML, CSS and ES modules, served by the daemon at `/`.

No build step: the browser loads the modules as they are in `static/`. The page talks to the
public API only, with the API key the user signs in with, like any other client.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"
# The page holds an API key: allow nothing but this origin's own scripts, styles and API.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Assets(StaticFiles):
    """Static files, revalidated on every load (cheap with ETags) and locked down."""

    def file_response(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers.update(SECURITY_HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the dashboard: `/` is the page, `/dashboard/...` its assets.

    A route for `/` rather than a mount at `/`, so that it cannot shadow API routes added
    after it.
    """

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    app.mount("/dashboard", _Assets(directory=STATIC), name="dashboard")
