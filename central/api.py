"""The published Exteros REST API (CONTRACT section 4), served by FastAPI.

Every error, including FastAPI's own validation errors and unknown routes,
answers ``{"error": {"status": N, "message": "..."}}``. Bad input is a 400,
never a 500; a database that cannot be reached is a 503.
"""

import logging
import re
import threading
import time
from datetime import date as Date
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

import exteros
from central.authlimit import AuthFailureLimiter
from central.config import ApiSettings
from central.counts import PLURAL, bucket, day_window, slot_counts
from central.keys import hash_key, parse_authorization, same_hash
from central.models import ApiKey, Company, Location
from central.timeutil import format_seconds
from exteros.contract import is_slug

log = logging.getLogger(__name__)
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # used with fullmatch
HOUR_RE = re.compile(r"[0-9]{1,2}")  # ASCII only: str.isdigit() accepts "²"


class ApiError(HTTPException):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "message": message}}


class ErrorDetail(BaseModel):
    status: int = Field(description="the HTTP status again")
    message: str = Field(description="what went wrong, for a person")


class ErrorBody(BaseModel):
    error: ErrorDetail


if TYPE_CHECKING:
    from sqlalchemy import Row

    # Location.id, company_id, timezone, last_update_ms
    LocationRow = Row[int, int, str, int | None]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "bad date, interval or hour"},
    401: {"model": ErrorBody, "description": "missing or unknown API key"},
    404: {"model": ErrorBody, "description": "unknown location (or one of another company)"},
    429: {
        "model": ErrorBody,
        "description": "too many requests for this key, or too many failed "
        "authentications from this address",
    },
    503: {"model": ErrorBody, "description": "the store is unavailable"},
}


class LocationItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    location_name: str = Field(alias="location-name")
    company: str | None = Field(default=None, description="with info=true")
    parent: str | None = Field(default=None, description="with info=true")
    children: list[str] | None = Field(default=None, description="with info=true")
    type: str | None = Field(default=None, description="with info=true: store, popup, zone, ...")
    timezone: str | None = Field(default=None, description="with info=true: IANA name")


class LastUpdateItem(BaseModel):
    last_update: str = Field(alias="last-update", examples=["2020-05-30T09:30:10Z"])


def _count_model(kind: str) -> type[BaseModel]:
    plural = PLURAL[kind]
    fields: dict[str, Any] = {
        "hr": (int | None, Field(default=None, description="local hour (interval hour, 15min)")),
        "min": (int | None, Field(default=None, description="0/15/30/45 (interval 15min)")),
        "date": (str | None, Field(default=None, description="the day (interval day)")),
        plural: (int, Field(description=f"number of {plural}")),
    }
    return create_model(f"{kind.capitalize()}Count", **fields)


class RateLimiter:
    """Token bucket per key: ``rate`` requests/s sustained, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else seconds until the next request would be."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


class KeyCache:
    """Key hash -> company id, briefly cached so a request costs no key lookup."""

    def __init__(self, engine: Engine, ttl_s: float) -> None:
        self.engine = engine
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[int | None, float]] = {}

    def company_of(self, key: str) -> int | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit and hit[1] > now:
            return hit[0]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(ApiKey.key_hash, ApiKey.company_id).where(
                    ApiKey.key_hash == digest, ApiKey.revoked_ms.is_(None)
                )
            ).first()
        company = row.company_id if row is not None and same_hash(row.key_hash, digest) else None
        if len(self._cache) > 10000:
            self._cache.clear()
        self._cache[digest] = (company, now + self.ttl_s)
        return company


api_key_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`YOUR_API_KEY` or `Bearer YOUR_API_KEY`",
)


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    keys = KeyCache(engine, settings.key_cache_s)
    limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
    auth_failures = AuthFailureLimiter(settings.auth_fail_limit, settings.auth_fail_window_s)

    app = FastAPIOffline(
        title="Exteros API",
        version=exteros.__version__,
        description=(
            "Customer traffic counts (impressions, discoveries, engagements, interactions) "
            "per location and local day. Send `Authorization: YOUR_API_KEY` with every request."
        ),
    )
    app.state.engine = engine

    def company(request: Request, header: Annotated[str | None, Depends(api_key_header)]) -> int:
        # Behind a reverse proxy this is the proxy unless uvicorn trusts its
        # X-Forwarded-For (--forwarded-allow-ips); then it is the real client.
        address = request.client.host if request.client else "unknown"
        wait = auth_failures.retry_after(address, time.monotonic())
        if wait:
            raise ApiError(
                429,
                f"too many failed authentications from this address; retry in {wait:.0f} s",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        key = parse_authorization(header)
        found = keys.company_of(key) if key and len(key) <= 512 else None
        if key is None or found is None:
            auth_failures.failed(address, time.monotonic())
            raise ApiError(401, "missing or unknown API key (send 'Authorization: YOUR_API_KEY')")
        wait = limiter.take(hash_key(key))
        if wait:
            raise ApiError(
                429,
                f"too many requests for this key; retry in {wait:.1f} s",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return found

    Company_ = Annotated[int, Depends(company)]

    def find_location(conn: Connection, name: str, company_id: int) -> "LocationRow":
        row = None
        if is_slug(name):
            row = conn.execute(
                select(
                    Location.id, Location.company_id, Location.timezone, Location.last_update_ms
                ).where(Location.name == name)
            ).first()
        if row is None or row.company_id != company_id:
            # Another company's location answers exactly like a missing one.
            raise ApiError(404, f"unknown location {name[:80]!r}")
        return row

    locations_cache: dict[str, tuple[LocationRow, float]] = {}

    def cached_location(conn: Connection, name: str, company_id: int) -> "LocationRow":
        """find_location, cached briefly: a count query then costs one database round trip."""
        now = time.monotonic()
        hit = locations_cache.get(name)
        if hit is None or hit[1] <= now:
            row = find_location(conn, name, company_id)
            if len(locations_cache) > 10000:
                locations_cache.clear()
            locations_cache[name] = (row, now + settings.location_cache_s)
            return row
        row = hit[0]
        if row.company_id != company_id:
            raise ApiError(404, f"unknown location {name[:80]!r}")
        return row

    def parse_date(value: str) -> Date:
        if DATE_RE.fullmatch(value):
            try:
                return Date.fromisoformat(value)
            except ValueError:
                pass
        raise ApiError(400, f"date must be a real day as yyyy-MM-dd, not {value[:40]!r}")

    def parse_hour(value: str) -> int | None:
        v = value.strip().lower()
        if v == "all":
            return None
        if HOUR_RE.fullmatch(v) and int(v) <= 23:
            return int(v)
        raise ApiError(400, f"hour must be 'all' or 0-23, not {value[:40]!r}")

    v1 = APIRouter(prefix="/v1", responses=ERRORS)

    def add_counts(kind: str, paths: list[str]) -> None:
        model = _count_model(kind)
        plural = PLURAL[kind]

        def endpoint(
            company_id: Company_,
            location: Annotated[str, Path(description="a store, shop or zone name")],
            date: Annotated[
                str, Path(description="local day, yyyy-MM-dd", examples=["2020-01-01"])
            ],
            interval: Annotated[
                Literal["hour", "15min", "day"], Query(description="bucket size")
            ] = "hour",
            hour: Annotated[str, Query(description="'all' or a local hour 0-23")] = "all",
        ) -> JSONResponse:
            day = parse_date(date)
            hr = parse_hour(hour)
            with engine.connect() as conn:
                loc = cached_location(conn, location, company_id)
                tz = ZoneInfo(loc.timezone)
                try:
                    start, end = day_window(day, tz)
                except (OverflowError, ValueError):
                    raise ApiError(400, f"date {date!r} is out of range") from None
                slots = slot_counts(conn, loc.id, start, end)
            return JSONResponse(bucket(slots, kind, day, tz, start, end, interval, hr))

        for i, path in enumerate(paths):
            v1.add_api_route(
                path,
                endpoint,
                methods=["GET"],
                response_model=list[model],  # type: ignore[valid-type]  # built at run time
                response_class=JSONResponse,
                summary=f"{plural.capitalize()} per bucket of a local day"
                + (" (published misspelling)" if i else ""),
                operation_id=f"get_{plural}" + ("_misspelled" if i else ""),
                tags=["traffic"],
                include_in_schema=True,
            )

    add_counts("impression", ["/traffic/impression-counts/{location}/{date}"])
    add_counts("discovery", ["/traffic/discovery-counts/{location}/{date}"])
    add_counts(
        "engagement",
        [
            "/traffic/engagement-counts/{location}/{date}",
            "/traffic/engadgment-counts/{location}/{date}",
        ],
    )
    add_counts("interaction", ["/traffic/interaction-counts/{location}/{date}"])

    @v1.get(
        "/locations",
        response_model=list[LocationItem],
        response_model_exclude_none=True,
        tags=["locations"],
        summary="The locations this key's company can query",
    )
    def locations(
        company_id: Company_,
        info: Annotated[
            bool, Query(description="add company, parent, children, type, timezone")
        ] = False,
    ) -> JSONResponse:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    Location.id, Location.name, Location.parent_id, Location.type, Location.timezone
                )
                .where(Location.company_id == company_id)
                .order_by(Location.name)
            ).all()
            cname = conn.execute(select(Company.name).where(Company.id == company_id)).scalar_one()
        if not info:
            return JSONResponse([{"location-name": r.name} for r in rows])
        names = {r.id: r.name for r in rows}
        children: dict[int, list[str]] = {}
        for r in rows:
            if r.parent_id is not None:
                children.setdefault(r.parent_id, []).append(r.name)
        return JSONResponse(
            [
                {
                    "location-name": r.name,
                    "company": cname,
                    "parent": names.get(r.parent_id),
                    "children": children.get(r.id, []),
                    "type": r.type,
                    "timezone": r.timezone,
                }
                for r in rows
            ]
        )

    @v1.get(
        "/locations/last-update/{location}",
        response_model=list[LastUpdateItem],
        tags=["locations"],
        summary="Latest time the store heard about a location (event or covering heartbeat)",
    )
    def last_update(
        company_id: Company_,
        location: Annotated[str, Path(description="a store, shop or zone name")],
    ) -> JSONResponse:
        with engine.connect() as conn:
            loc = find_location(conn, location, company_id)
        if loc.last_update_ms is None:
            return JSONResponse([])
        return JSONResponse([{"last-update": format_seconds(loc.last_update_ms)}])

    app.include_router(v1)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    @app.exception_handler(HTTPException)
    async def _http_error(_req: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_req: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:3]:
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "header")]
            parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse(error_body(400, "; ".join(parts) or "bad request"), status_code=400)

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _store_down(_req: Request, exc: Exception) -> JSONResponse:
        log.error("store unavailable: %s", exc)
        return JSONResponse(error_body(503, "store unavailable, try again later"), status_code=503)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(error_body(500, "internal error"), status_code=500)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        # Validation errors answer 400 in the published error shape, never 422.
        for item in schema.get("paths", {}).values():
            for op in item.values():
                op.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app
