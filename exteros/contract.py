"""What crosses the wire (docs/contract.md sections 1-3), as pydantic models.

The edge builds these, the central store validates incoming MQTT payloads with
them, and the client reuses the slug rule. Change only with a schema bump.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

# Anchored with \Z, not $: "$" also matches before a trailing newline, so "acme\n" passed.
# Match with fullmatch; the anchors keep .match() callers safe too.
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}\Z")
EVENT_SCHEMA: Final = "exteros.event/1"
VISIT_SCHEMA: Final = "exteros.visit/1"
TOPIC_ROOT = "exteros/v1"


def is_slug(value: object) -> bool:
    """True for a whole-string slug (never one with a trailing newline)."""
    return isinstance(value, str) and SLUG_RE.fullmatch(value) is not None


def _check_slug(value: str) -> str:
    if not is_slug(value):
        raise ValueError(
            f"{value!r} is not a slug (lower-case letters, digits, '.', '_', '-'; "
            "starts with a letter or digit; at most 64 characters)"
        )
    return value


Slug = Annotated[str, AfterValidator(_check_slug)]


def id_belongs_to(device_id: str, value: str) -> bool:
    """An event or visit id belongs to the device whose id and a ``/`` start it.

    The edge builds ids as ``{device_id}/{camera_id}/...``; the central store refuses
    ids of another device, so one device can never take another's ids.
    """
    return value.startswith(f"{device_id}/")


def format_ts(value: datetime) -> str:
    """RFC 3339 UTC with milliseconds: ``2020-01-01T09:05:02.120Z``."""
    if value.tzinfo is None:
        raise ValueError("timestamp has no timezone")
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or an offset) into an aware UTC datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone")
    return parsed.astimezone(UTC)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


Timestamp = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    PlainSerializer(format_ts, return_type=str, when_used="always"),
]


class EventKind(StrEnum):
    """The four counted kinds, in funnel order."""

    impression = "impression"
    discovery = "discovery"
    engagement = "engagement"
    interaction = "interaction"


KIND_ORDER = (
    EventKind.impression,
    EventKind.discovery,
    EventKind.engagement,
    EventKind.interaction,
)


class Event(BaseModel):
    """One counted event (``exteros.event/1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schema_: Literal["exteros.event/1"] = Field(
        default=EVENT_SCHEMA, alias="schema", description="payload schema and version"
    )
    event_id: str = Field(min_length=1, max_length=512, description="unique, deterministic id")
    kind: EventKind = Field(description="which counted kind")
    location: Slug = Field(description="location the visit was in")
    device_id: Slug = Field(description="edge device that saw it")
    camera_id: Slug = Field(description="camera that saw it")
    visit_id: str = Field(min_length=1, max_length=512, description="the visit it belongs to")
    visit_started_at: Timestamp = Field(description="first frame the person was seen inside")
    occurred_at: Timestamp = Field(description="moment the kind's threshold was crossed")
    dwell_s: float = Field(ge=0, description="dwell at occurred_at, seconds")
    confidence: float = Field(ge=0, le=1, description="mean detection confidence of the visit")

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class VisitSummary(BaseModel):
    """One ended visit (``exteros.visit/1``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    schema_: Literal["exteros.visit/1"] = Field(
        default=VISIT_SCHEMA, alias="schema", description="payload schema and version"
    )
    visit_id: str = Field(min_length=1, max_length=512, description="unique, deterministic id")
    location: Slug = Field(description="location of the visit")
    device_id: Slug = Field(description="edge device")
    camera_id: Slug = Field(description="camera")
    started_at: Timestamp = Field(description="first frame seen inside")
    ended_at: Timestamp = Field(description="last frame seen inside")
    dwell_s: float = Field(ge=0, description="ended_at - started_at, seconds")
    kinds: list[EventKind] = Field(description="event kinds this visit produced")

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class DeviceStatus(BaseModel):
    """Retained status message; the broker's will message sets ``offline``."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    state: Literal["online", "offline"]
    at: Timestamp
    version: str

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class CameraHealth(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    fps: float = Field(ge=0, description="frames processed per second")
    connected: bool = Field(description="the source delivers frames")
    last_frame_at: Timestamp | None = Field(default=None, description="time of the last frame")


class Heartbeat(BaseModel):
    """Sent every 60 s on ``exteros/v1/{device_id}/heartbeat``."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    at: Timestamp
    uptime_s: float = Field(ge=0)
    locations: list[Slug] = Field(description="locations this device covers")
    cameras: dict[str, CameraHealth] = Field(default_factory=dict)
    outbox_depth: int = Field(ge=0, default=0)
    outbox_dropped: int = Field(ge=0, default=0)
    version: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


TopicKind = Literal["events", "visits", "status", "heartbeat", "acks"]


def topic(device_id: str, kind: TopicKind) -> str:
    return f"{TOPIC_ROOT}/{device_id}/{kind}"


def split_topic(value: str) -> tuple[str, str]:
    """``exteros/v1/dev/events`` -> (``dev``, ``events``); ValueError otherwise."""
    parts = value.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT:
        raise ValueError(f"not an Exteros topic: {value!r}")
    return parts[2], parts[3]


def payload_for(message: Event | VisitSummary) -> tuple[TopicKind, dict[str, Any]]:
    """Which topic kind a message goes to, and its JSON payload."""
    kind: TopicKind = "events" if isinstance(message, Event) else "visits"
    return kind, message.to_payload()


def now_utc() -> datetime:
    """The wall clock, for live cameras and status messages only (never for replays)."""
    return datetime.now(UTC)
