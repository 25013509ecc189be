"""The dashboard: one static page served by the API process, drawn from the public API.

``GET /`` answers ``static/index.html``; its scripts and styles are under
``/dashboard/``. The page signs in with an API key (kept in the browser's
sessionStorage) and calls the same ``/v1`` endpoints any client does, so it shows
nothing a key could not fetch itself. Charts need the vendored Chart.js
(``scripts/build-dashboard.sh``); without it the page shows tables and says so.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).resolve().parent / "static"
VENDOR_CHART = STATIC / "vendor" / "chart.umd.min.js"

# The page holds an API key: no framing, nothing loaded or sent anywhere but here.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


class _Static(StaticFiles):
    """Static files revalidated on every load, so an upgrade is seen at once."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` and its files under ``/dashboard/`` (not in OpenAPI)."""

    @app.get("/", include_in_schema=False)
    def dashboard_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=PAGE_HEADERS)

    app.mount("/dashboard", _Static(directory=STATIC), name="dashboard")
