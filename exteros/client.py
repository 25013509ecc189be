"""Python client for the Exteros REST API.

    import exteros
    api = exteros.authorize("YOUR_API_KEY", base_url="http://127.0.0.1:8000")
    api.impression_counts("madison-ave-store", "2020-01-01")
    # [Count(kind='impression', count=100, hr=9, min=None, date=None), ...]
    api.funnel("madison-ave-store", "2020-01-01", to="2020-01-31", interval="day")
    api.dwell("madison-ave-store", "2020-01-01")
    api.devices()

Every method maps to one endpoint and takes its query parameters. HTTP errors
raise ``ExterosError`` carrying the API's status and message.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, cast
from urllib.parse import quote

import httpx

DEFAULT_BASE_URL = "https://api.exteros.com"
Interval = Literal["hour", "15min", "day"]
_PLURAL = {
    "impression": "impressions",
    "discovery": "discoveries",
    "engagement": "engagements",
    "interaction": "interactions",
}
_PATH = {
    "impression": "impression-counts",
    "discovery": "discovery-counts",
    "engagement": "engagement-counts",
    "interaction": "interaction-counts",
}


class ExterosError(Exception):
    """An error answer from the API (or no answer at all: status 0)."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.retry_after = retry_after  # seconds, from a 429's Retry-After


@dataclass(frozen=True)
class Count:
    """One bucket: ``hr`` (and ``min`` for 15min) or ``date`` for a day, and its count."""

    kind: str
    count: int
    hr: int | None = None
    min: int | None = None
    date: date | None = None


@dataclass(frozen=True)
class FunnelBucket:
    """All four counts of one bucket, and each later kind's share of its impressions
    (rounded to 4 decimals; None when the bucket has no impressions)."""

    date: date
    impressions: int
    discoveries: int
    engagements: int
    interactions: int
    discovery_rate: float | None
    engagement_rate: float | None
    interaction_rate: float | None
    hr: int | None = None
    min: int | None = None


@dataclass(frozen=True)
class DwellBucket:
    """Visits that started in one bucket and their dwell seconds (None without visits)."""

    date: date
    visits: int
    mean_dwell_s: float | None
    median_dwell_s: float | None
    p90_dwell_s: float | None
    hr: int | None = None
    min: int | None = None


@dataclass(frozen=True)
class Camera:
    """One camera as its device's last heartbeat reported it."""

    camera_id: str
    fps: float | None
    connected: bool | None
    last_frame: datetime | None
    stalled: bool


@dataclass(frozen=True)
class Device:
    """An edge device of the key's company and its health."""

    device_id: str
    online: bool
    last_heartbeat: datetime | None
    version: str | None
    outbox_depth: int | None
    cameras: list[Camera] = field(default_factory=list)


@dataclass(frozen=True)
class Location:
    """A location; the fields other than ``name`` are filled with ``info=True``."""

    name: str
    company: str | None = None
    parent: str | None = None
    children: list[str] = field(default_factory=list)
    type: str | None = None
    timezone: str | None = None


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _utc(value: str | None) -> datetime | None:
    """``2020-05-30T09:30:10Z`` as an aware UTC datetime; None stays None."""
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Client:
    """A session with the API for one key. Use as a context manager or call ``close``."""

    def __init__(
        self,
        key: str,
        base_url: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
    ) -> None:
        base = base_url or os.environ.get("EXTEROS_API_URL") or DEFAULT_BASE_URL
        # A 429 is waited out (its Retry-After) and retried, like the Ruby and JS clients
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._http = httpx.Client(
            base_url=base.rstrip("/"),
            headers={"Authorization": key, "User-Agent": "exteros-python"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _get(self, path: str, params: dict[str, str] | None = None) -> list[Any]:
        for attempt in range(self.max_retries + 1):
            try:
                resp = self._http.get(path, params=params)
            except httpx.HTTPError as exc:
                raise ExterosError(0, f"cannot reach the Exteros API: {exc}") from exc
            wait = retry_after_s(resp.headers.get("Retry-After"))
            if resp.status_code != 429 or attempt == self.max_retries or wait is None:
                break
            if wait > self.max_retry_wait:
                break
            time.sleep(wait)
        if resp.status_code >= 400:
            try:
                message = resp.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = resp.text[:200] or resp.reason_phrase
            raise ExterosError(
                resp.status_code, message, retry_after_s(resp.headers.get("Retry-After"))
            )
        return cast(list[Any], resp.json())  # every GET of the API answers a JSON array

    def _traffic(
        self,
        endpoint: str,
        location: str,
        day: date | str,
        to: date | str | None,
        interval: Interval,
        hour: int | str,
    ) -> list[Any]:
        params = {"interval": interval, "hour": str(hour)}
        if to is not None:
            params = {"to": _day(to), **params}
        return self._get(
            f"/v1/traffic/{endpoint}/{quote(location, safe='')}/{quote(_day(day), safe='')}",
            params,
        )

    def counts(
        self,
        kind: str,
        location: str,
        day: date | str,
        *,
        to: date | str | None = None,
        interval: Interval = "hour",
        hour: int | str = "all",
    ) -> list[Count]:
        """Counts of ``kind`` (impression, discovery, engagement, interaction) for a local day,
        or for the local days ``day``..``to`` (inclusive, at most 366; each item then has its
        ``date``)."""
        if kind not in _PATH:
            raise ValueError(f"kind must be one of {', '.join(_PATH)}")
        items = self._traffic(_PATH[kind], location, day, to, interval, hour)
        key = _PLURAL[kind]
        return [
            Count(
                kind=kind,
                count=item[key],
                hr=item.get("hr"),
                min=item.get("min"),
                date=date.fromisoformat(item["date"]) if "date" in item else None,
            )
            for item in items
        ]

    def impression_counts(
        self,
        location: str,
        day: date | str,
        *,
        to: date | str | None = None,
        interval: Interval = "hour",
        hour: int | str = "all",
    ) -> list[Count]:
        """People passing by the location."""
        return self.counts("impression", location, day, to=to, interval=interval, hour=hour)

    def discovery_counts(
        self,
        location: str,
        day: date | str,
        *,
        to: date | str | None = None,
        interval: Interval = "hour",
        hour: int | str = "all",
    ) -> list[Count]:
        """People spending at least 3 seconds at the location."""
        return self.counts("discovery", location, day, to=to, interval=interval, hour=hour)

    def engagement_counts(
        self,
        location: str,
        day: date | str,
        *,
        to: date | str | None = None,
        interval: Interval = "hour",
        hour: int | str = "all",
    ) -> list[Count]:
        """People spending at least 10 seconds at the location."""
        return self.counts("engagement", location, day, to=to, interval=interval, hour=hour)

    def interaction_counts(
        self,
        location: str,
        day: date | str,
        *,
        to: date | str | None = None,
        interval: Interval = "hour",
        hour: int | str = "all",
    ) -> list[Count]:
        """People touching or picking up a product at the location."""
        return self.counts("interaction", location, day, to=to, interval=interval, hour=hour)

    def funnel(
        self,
        location: str,
        day: date | str,
        *,
        to: date | str | None = None,
        interval: Interval = "hour",
        hour: int | str = "all",
    ) -> list[FunnelBucket]:
        """All four counts per bucket with the discovery, engagement and interaction rates."""
        items = self._traffic("funnel", location, day, to, interval, hour)
        return [
            FunnelBucket(
                date=date.fromisoformat(i["date"]),
                hr=i.get("hr"),
                min=i.get("min"),
                impressions=i["impressions"],
                discoveries=i["discoveries"],
                engagements=i["engagements"],
                interactions=i["interactions"],
                discovery_rate=i["discovery-rate"],
                engagement_rate=i["engagement-rate"],
                interaction_rate=i["interaction-rate"],
            )
            for i in items
        ]

    def dwell(
        self,
        location: str,
        day: date | str,
        *,
        to: date | str | None = None,
        interval: Interval = "hour",
        hour: int | str = "all",
    ) -> list[DwellBucket]:
        """Visits per bucket (by local visit start) with their dwell mean, median and p90."""
        items = self._traffic("dwell", location, day, to, interval, hour)
        return [
            DwellBucket(
                date=date.fromisoformat(i["date"]),
                hr=i.get("hr"),
                min=i.get("min"),
                visits=i["visits"],
                mean_dwell_s=i["mean-dwell-s"],
                median_dwell_s=i["median-dwell-s"],
                p90_dwell_s=i["p90-dwell-s"],
            )
            for i in items
        ]

    def devices(self) -> list[Device]:
        """The key's company's edge devices: online, last heartbeat, outbox and cameras."""
        return [
            Device(
                device_id=d["device-id"],
                online=d["online"],
                last_heartbeat=_utc(d["last-heartbeat"]),
                version=d["version"],
                outbox_depth=d["outbox-depth"],
                cameras=[
                    Camera(
                        camera_id=c["camera-id"],
                        fps=c["fps"],
                        connected=c["connected"],
                        last_frame=_utc(c["last-frame"]),
                        stalled=c["stalled"],
                    )
                    for c in d["cameras"]
                ],
            )
            for d in self._get("/v1/devices")
        ]

    def locations(self, *, info: bool = False) -> list[Location]:
        items = self._get("/v1/locations", {"info": "true" if info else "false"})
        return [
            Location(
                name=i["location-name"],
                company=i.get("company"),
                parent=i.get("parent"),
                children=list(i.get("children") or []),
                type=i.get("type"),
                timezone=i.get("timezone"),
            )
            for i in items
        ]

    def last_update(self, location: str) -> datetime | None:
        """When the store last heard about the location; None if never."""
        items = self._get(f"/v1/locations/last-update/{quote(location, safe='')}")
        return _utc(items[0]["last-update"]) if items else None


def authorize(key: str, base_url: str | None = None, **kwargs: Any) -> Client:
    """A client for ``key``. ``base_url`` defaults to $EXTEROS_API_URL or the hosted API."""
    if not key or not isinstance(key, str):
        raise ValueError("an API key is required")
    return Client(key, base_url, **kwargs)
