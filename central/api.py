"""The published Exteros REST API (CONTRACT section 4), served by FastAPI.

Traffic endpoints (the four counts, funnel, dwell) answer JSON, or CSV with ``format=csv``
or ``Accept: text/csv``; the bucketing is in ``central.counts``. Every error, including
FastAPI's own validation errors and unknown routes, answers
``{"error": {"status": N, "message": "..."}}``. Bad input (an unknown query parameter
too) is a 400, never a 500; a database that cannot be reached is a 503.
"""

import csv
import io
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date as Date
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

import exteros
from central.authlimit import AuthFailureLimiter
from central.config import ApiSettings
from central.counts import (
    MAX_DAYS,
    PLURAL,
    LocalRange,
    Slot,
    columns,
    count_items,
    dwell_items,
    dwell_stats,
    event_counts,
    funnel_items,
    layout,
    width_ms,
)
from central.dashboard import mount_dashboard
from central.devices import DeviceHealth, device_health
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
    400: {
        "model": ErrorBody,
        "description": "bad date, to, interval, hour or format, or an unknown query parameter",
    },
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
        "date": (
            str | None,
            Field(default=None, description="the local day (interval day, or any item with `to`)"),
        ),
        "hr": (int | None, Field(default=None, description="local hour (interval hour, 15min)")),
        "min": (int | None, Field(default=None, description="0/15/30/45 (interval 15min)")),
        plural: (int, Field(description=f"number of {plural}")),
    }
    return create_model(f"{kind.capitalize()}Count", **fields)


class FunnelItem(BaseModel):
    """All four counts of one bucket, and the share of its impressions reaching each kind."""

    model_config = ConfigDict(populate_by_name=True)

    date: str = Field(description="the local day")
    hr: int | None = Field(default=None, description="local hour (interval hour, 15min)")
    min: int | None = Field(default=None, description="0/15/30/45 (interval 15min)")
    impressions: int
    discoveries: int
    engagements: int
    interactions: int
    discovery_rate: float | None = Field(
        alias="discovery-rate", description="discoveries / impressions, 4 decimals; null if 0"
    )
    engagement_rate: float | None = Field(
        alias="engagement-rate", description="engagements / impressions, 4 decimals; null if 0"
    )
    interaction_rate: float | None = Field(
        alias="interaction-rate", description="interactions / impressions, 4 decimals; null if 0"
    )


class DwellItem(BaseModel):
    """Visits that started in one bucket and their dwell times (seconds, 3 decimals)."""

    model_config = ConfigDict(populate_by_name=True)

    date: str = Field(description="the local day")
    hr: int | None = Field(default=None, description="local hour (interval hour, 15min)")
    min: int | None = Field(default=None, description="0/15/30/45 (interval 15min)")
    visits: int = Field(description="visit summaries whose visit started in the bucket")
    mean_dwell_s: float | None = Field(alias="mean-dwell-s", description="null without visits")
    median_dwell_s: float | None = Field(
        alias="median-dwell-s", description="50th percentile, linear interpolation"
    )
    p90_dwell_s: float | None = Field(
        alias="p90-dwell-s",
        description="90th percentile, linear interpolation between the closest ranks "
        "(numpy's default, PostgreSQL's percentile_cont)",
    )


# The 200 answer of a traffic endpoint can also be CSV (?format=csv or Accept: text/csv).
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or CSV (a header row, then one row per item) with "
        "`format=csv` or `Accept: text/csv`",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def wants_csv(fmt: str | None, accept: str | None) -> bool:
    """CSV for ``format=csv``; without ``format``, when ``Accept`` prefers ``text/csv`` to JSON."""
    if fmt is not None:
        return fmt == "csv"
    q_csv = q_json = 0.0
    for part in (accept or "").split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == "text/csv":
            q_csv = max(q_csv, q)
        elif media in ("application/json", "application/*", "*/*"):
            q_json = max(q_json, q)
    return q_csv > 0 and q_csv > q_json


def csv_response(items: list[dict[str, Any]], header: list[str]) -> Response:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header)
    writer.writeheader()
    writer.writerows(items)  # None is written as an empty cell
    return Response(buf.getvalue(), media_type="text/csv")


def only_params(*names: str) -> Any:
    """A dependency answering 400 for any query parameter not in ``names``."""
    allowed = set(names)
    listed = ", ".join(names) or "none"

    def check(request: Request) -> None:
        unknown = [k for k in dict.fromkeys(request.query_params.keys()) if k not in allowed]
        if unknown:
            shown = ", ".join(repr(k[:40]) for k in unknown[:5])
            noun = "parameter" if len(unknown) == 1 else "parameters"
            raise ApiError(400, f"unknown query {noun} {shown} (allowed: {listed})")

    return Depends(check)


TRAFFIC_PARAMS = ("to", "interval", "hour", "format")
IntervalQ = Annotated[
    Literal["hour", "15min", "day"],
    Query(description="bucket size: hour, 15min (items gain `min`) or day (one item a day)"),
]
HourQ = Annotated[str, Query(description="'all' or a local hour 0-23: only that hour's buckets")]
ToQ = Annotated[
    str | None,
    Query(
        description="last local day of a range starting at `date` (inclusive, yyyy-MM-dd, "
        f"at most {MAX_DAYS} days); every item then carries its `date`, and interval=day "
        "lists every day of the range",
        examples=["2020-01-31"],
    ),
]
FormatQ = Annotated[
    Literal["json", "csv"] | None,
    Query(description="json (the default) or csv; without it, `Accept: text/csv` selects CSV"),
]
LocationP = Annotated[str, Path(description="a store, shop or zone name")]
DateP = Annotated[
    str,
    Path(
        description="local day (the first of a range with `to`), yyyy-MM-dd",
        examples=["2020-01-01"],
    ),
]


# a traffic endpoint's parts: each bucket's values, and the answer's items from them
Stats = Callable[[Connection, int, LocalRange, int], dict[int, Any]]
Items = Callable[[list[Slot], dict[int, Any], bool], list[dict[str, Any]]]


@dataclass(frozen=True)
class Traffic:
    """A parsed traffic request: where, which local days, which buckets."""

    location_id: int
    rng: LocalRange
    interval: str
    hour: int | None
    ranged: bool

    @property
    def width(self) -> int:
        return width_ms(self.interval, self.hour)


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
            "Customer traffic counts (impressions, discoveries, engagements, interactions), "
            "the funnel between them and dwell times, per location and local day or range "
            "of days (JSON or CSV), and the health of the company's edge devices. "
            "Send `Authorization: YOUR_API_KEY` with every request."
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

    def parse_date(value: str, what: str = "date") -> Date:
        if DATE_RE.fullmatch(value):
            try:
                return Date.fromisoformat(value)
            except ValueError:
                pass
        raise ApiError(400, f"{what} must be a real day as yyyy-MM-dd, not {value[:40]!r}")

    def parse_hour(value: str) -> int | None:
        v = value.strip().lower()
        if v == "all":
            return None
        if HOUR_RE.fullmatch(v) and int(v) <= 23:
            return int(v)
        raise ApiError(400, f"hour must be 'all' or 0-23, not {value[:40]!r}")

    def traffic(
        conn: Connection,
        company_id: int,
        location: str,
        date: str,
        to: str | None,
        interval: str,
        hour: str,
    ) -> Traffic:
        """Checks in the documented order: parameters (400), location (404), range ends."""
        first = parse_date(date)
        last = first if to is None else parse_date(to, "to")
        if last < first:
            raise ApiError(400, f"to ({last}) is before date ({first})")
        days = (last - first).days + 1
        if days > MAX_DAYS:
            raise ApiError(400, f"date..to spans {days} days; at most {MAX_DAYS}")
        hr = parse_hour(hour)
        loc = cached_location(conn, location, company_id)
        try:
            rng = LocalRange.of(first, last, ZoneInfo(loc.timezone))
        except (OverflowError, ValueError):
            shown = date if to is None else f"{date}..{to}"
            raise ApiError(400, f"date {shown!r} is out of range") from None
        return Traffic(loc.id, rng, interval, hr, to is not None)

    def answer(
        request: Request, fmt: str | None, items: list[dict[str, Any]], header: list[str]
    ) -> Response:
        if wants_csv(fmt, request.headers.get("accept")):
            return csv_response(items, header)
        # orjson: a year of 15-minute buckets is ~35,000 items, 5-10x faster than json
        return Response(orjson.dumps(items), media_type="application/json")

    v1 = APIRouter(prefix="/v1", responses=ERRORS)

    def traffic_endpoint(kind: str, stats: Stats, items: Items) -> Callable[..., Response]:
        """The endpoint of one traffic kind (an event kind, ``funnel`` or ``dwell``): parse
        the request, read each bucket's values (``stats``), lay out the answer's items,
        answer JSON or CSV."""

        def endpoint(
            request: Request,
            company_id: Company_,
            _params: Annotated[None, only_params(*TRAFFIC_PARAMS)],
            location: LocationP,
            date: DateP,
            to: ToQ = None,
            interval: IntervalQ = "hour",
            hour: HourQ = "all",
            format: FormatQ = None,
        ) -> Response:
            with engine.connect() as conn:
                q = traffic(conn, company_id, location, date, to, interval, hour)
                values = stats(conn, q.location_id, q.rng, q.width)
            slots = layout(q.rng, q.interval, q.hour, values, q.ranged)
            answer_items = items(slots, values, q.ranged)
            return answer(request, format, answer_items, columns(kind, interval, q.ranged))

        return endpoint

    def add_counts(kind: str, paths: list[str]) -> None:
        model = _count_model(kind)
        plural = PLURAL[kind]
        endpoint = traffic_endpoint(
            kind,
            event_counts,
            lambda slots, counts, ranged: count_items(slots, counts, kind, ranged),
        )
        for i, path in enumerate(paths):
            v1.add_api_route(
                path,
                endpoint,
                methods=["GET"],
                response_model=list[model],  # type: ignore[valid-type]  # built at run time
                response_class=JSONResponse,
                responses=CSV_RESPONSE,
                summary=f"{plural.capitalize()} per bucket of a local day (or range of days)"
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
    v1.add_api_route(
        "/traffic/funnel/{location}/{date}",
        traffic_endpoint(
            "funnel", event_counts, lambda slots, counts, _: funnel_items(slots, counts)
        ),
        methods=["GET"],
        name="funnel",
        response_model=list[FunnelItem],
        response_class=JSONResponse,
        responses=CSV_RESPONSE,
        tags=["traffic"],
        summary="All four counts per bucket, with discovery, engagement and interaction rates",
    )
    v1.add_api_route(
        "/traffic/dwell/{location}/{date}",
        traffic_endpoint("dwell", dwell_stats, lambda slots, stats, _: dwell_items(slots, stats)),
        methods=["GET"],
        name="dwell",
        response_model=list[DwellItem],
        response_class=JSONResponse,
        responses=CSV_RESPONSE,
        tags=["traffic"],
        summary="Visits per bucket (by local visit start) with dwell mean, median and p90",
    )

    @v1.get(
        "/locations",
        response_model=list[LocationItem],
        response_model_exclude_none=True,
        tags=["locations"],
        summary="The locations this key's company can query",
    )
    def locations(
        company_id: Company_,
        _params: Annotated[None, only_params("info")],
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
        _params: Annotated[None, only_params()],
        location: Annotated[str, Path(description="a store, shop or zone name")],
    ) -> JSONResponse:
        with engine.connect() as conn:
            loc = find_location(conn, location, company_id)
        if loc.last_update_ms is None:
            return JSONResponse([])
        return JSONResponse([{"last-update": format_seconds(loc.last_update_ms)}])

    @v1.get(
        "/devices",
        response_model=list[DeviceHealth],
        response_model_by_alias=True,
        tags=["devices"],
        summary="This key's company's edge devices: online, last heartbeat, outbox, cameras",
    )
    def devices(
        company_id: Company_, _params: Annotated[None, only_params()]
    ) -> list[DeviceHealth]:
        with engine.connect() as conn:
            return device_health(conn, company_id)

    app.include_router(v1)
    mount_dashboard(app)

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
