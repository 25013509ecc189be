"""The zone editor: a local web app (FastAPI) over the edge YAML.

Everything the page needs (HTML, JS, CSS, the snapshots) is served from here;
nothing is fetched from elsewhere. Saves go through ``ConfigDocument``, i.e.
the edge's own models validate them and the previous file is kept as FILE.bak.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from calibration import groundplane
from calibration.configfile import ConfigDocument, threshold_defaults, threshold_descriptions
from calibration.preview import PALETTE, hex_colour
from calibration.snapshot import Snapshot, png_bytes, take
from edge.config import CameraConfig, ConfigError
from edge.geometry import validate_relative_polygon

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
STATIC = {
    "editor.js": "text/javascript; charset=utf-8",
    "editor.css": "text/css; charset=utf-8",
}


class CameraEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zones: list[dict[str, Any]] = Field(description="the camera's zones, as in the edge YAML")
    ground_plane: dict[str, Any] | None = Field(
        default=None, description="ground plane; left as it is in the file when absent"
    )


class SaveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cameras: dict[str, CameraEdit] = Field(description="camera_id -> its new zones")


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    polygon: list[list[float]] = Field(description="relative [x, y] points")


def _error(status: int, message: str, errors: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": status, "message": message}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse({"error": body}, status_code=status)


def _static(name: str) -> str:
    return resources.files("calibration").joinpath("static", name).read_text(encoding="utf-8")


def create_app(
    config_path: str | Path,
    snapshots: dict[str, Snapshot] | None = None,
    image_dir: Path | None = None,
) -> FastAPI:
    """The editor app for one config file; snapshots are grabbed now unless given."""
    path = Path(config_path)
    doc = ConfigDocument(path)  # ConfigError here: the caller reports it before serving
    if snapshots is None:
        # Live cameras can take seconds each to answer: ask them all at once.
        cams = doc.config.cameras
        with ThreadPoolExecutor(max_workers=min(len(cams), 8)) as pool:
            snaps = pool.map(lambda c: take(c, image_dir=image_dir), cams)
            snapshots = {c.camera_id: snap for c, snap in zip(cams, snaps, strict=True)}
    lock = threading.Lock()
    app = FastAPI(title="exteros-calibrate", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def _local_only(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Bound to 127.0.0.1, but a web page in the same browser could still reach it:
        # refuse other Host names (DNS rebinding) and non-JSON posts (a cross-site form
        # cannot send application/json without a CORS preflight, which is never allowed).
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]")
        if host not in LOCAL_HOSTS:
            return _error(403, f"the editor answers only on 127.0.0.1/localhost, not {host!r}")
        if request.method == "POST" and not request.headers.get("content-type", "").startswith(
            "application/json"
        ):
            return _error(415, "send JSON (Content-Type: application/json)")
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        lines = [
            ".".join(str(p) for p in e["loc"] if p != "body") + f": {e['msg']}"
            for e in exc.errors()
        ]
        return _error(400, "; ".join(lines), lines)

    def camera_state(cam: CameraConfig) -> dict[str, Any]:
        snap = snapshots.get(cam.camera_id)
        state: dict[str, Any] = {
            "camera_id": cam.camera_id,
            "zones": [z.model_dump(mode="json") for z in cam.zones],
            "ground_plane": cam.ground_plane.model_dump(mode="json") if cam.ground_plane else None,
            "width": None,
            "height": None,
            "homography": None,
            "error": None,
        }
        if snap is None or snap.image is None:
            state["error"] = snap.error if snap else "no snapshot"
            return state
        w, h = snap.size
        state.update(width=w, height=h, snapshot=f"/snapshot/{cam.camera_id}.png")
        hp = groundplane.homography(cam, w, h)
        if hp is not None:
            state["homography"] = groundplane.relative_homography(hp, w, h).tolist()
        return state

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(_static("editor.html"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            return _error(404, f"no such file: {name}")
        return Response(_static(name), media_type=STATIC[name])

    @app.get("/snapshot/{camera_id}.png")
    def snapshot(camera_id: str) -> Response:
        snap = snapshots.get(camera_id)
        if snap is None or snap.image is None:
            return _error(404, f"no snapshot for camera {camera_id!r}")
        return Response(png_bytes(snap.image), media_type="image/png")

    @app.get("/api/state")
    def state() -> dict[str, Any]:
        with lock:
            cfg = doc.config
        return {
            "config_path": str(path),
            "device_id": cfg.device_id,
            "defaults": threshold_defaults(),
            "descriptions": threshold_descriptions(),
            "palette": [hex_colour(c) for c in PALETTE],
            "cameras": [camera_state(c) for c in cfg.cameras],
        }

    @app.post("/api/check-polygon")
    def check_polygon(req: CheckRequest) -> Any:
        try:
            validate_relative_polygon(req.polygon)
        except ValueError as exc:
            return _error(400, f"polygon: {exc}", [f"polygon: {exc}"])
        return {"ok": True}

    @app.post("/api/save")
    def save(req: SaveRequest) -> Any:
        nonlocal doc
        with lock:
            try:
                work = ConfigDocument(path)  # re-read: the file may have been edited meanwhile
                for camera_id, edit in req.cameras.items():
                    work.set_zones(camera_id, edit.zones)
                    if "ground_plane" in edit.model_fields_set:
                        work.set_ground_plane(camera_id, edit.ground_plane)
                backup = work.save()
            except ConfigError as exc:
                return _error(400, "; ".join(exc.errors), exc.errors)
            except OSError as exc:
                return _error(500, f"cannot write {path}: {exc}")
            doc = work
        return {"ok": True, "path": str(path), "backup": str(backup), "state": state()}

    return app
