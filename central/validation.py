"""Ingest rules beyond the payload schema: ownership of ids, time bounds, ordering.

Pure functions over already-parsed contract models and the receive time (epoch
ms), so they are tested without a database or a clock. Each returns the reason a
message is refused (it becomes the dead letter's ``reason``), or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from central.timeutil import format_seconds, from_ms, to_ms
from exteros.contract import DeviceStatus, Event, Heartbeat, VisitSummary, id_belongs_to

DEFAULT_CLOCK_SKEW_S = 300.0
DEFAULT_EARLIEST = date(2000, 1, 1)


@dataclass(frozen=True)
class TimeLimits:
    """Timestamps must lie in [earliest, receive time + clock skew]."""

    clock_skew_s: float = DEFAULT_CLOCK_SKEW_S
    earliest: date = DEFAULT_EARLIEST

    def window(self, received_ms: int) -> TimeWindow:
        """The bounds for messages received at ``received_ms`` (computed once per batch)."""
        first = datetime(self.earliest.year, self.earliest.month, self.earliest.day, tzinfo=UTC)
        latest = from_ms(received_ms + int(self.clock_skew_s * 1000))
        return TimeWindow(first, latest, received_ms, self)


@dataclass(frozen=True)
class TimeWindow:
    earliest: datetime
    latest: datetime
    received_ms: int
    limits: TimeLimits


def _time_problem(fields: list[tuple[str, datetime | None]], w: TimeWindow) -> str | None:
    for name, value in fields:
        if value is None:
            continue
        if value > w.latest:
            return (
                f"timestamp in the future: {name} {format_seconds(to_ms(value))} is later than "
                f"the receive time {format_seconds(w.received_ms)} plus the "
                f"{w.limits.clock_skew_s:g} s clock-skew allowance"
            )
        if value < w.earliest:
            return (
                f"timestamp too early: {name} {format_seconds(to_ms(value))} is before the "
                f"earliest accepted date {w.limits.earliest.isoformat()}"
            )
    return None


def _id_problem(device_id: str, what: str, value: str) -> str | None:
    if id_belongs_to(device_id, value):
        return None
    return (
        f"{what} {value[:120]!r} does not belong to device {device_id!r} "
        f"(must start with '{device_id}/')"
    )


def event_problem(ev: Event, w: TimeWindow) -> str | None:
    """Why an event (already matched to its topic's device) is refused, or None."""
    return (
        _id_problem(ev.device_id, "event_id", ev.event_id)
        or _id_problem(ev.device_id, "visit_id", ev.visit_id)
        or _time_problem(
            [("visit_started_at", ev.visit_started_at), ("occurred_at", ev.occurred_at)], w
        )
        or (
            "visit_started_at is after occurred_at"
            if ev.visit_started_at > ev.occurred_at
            else None
        )
    )


def visit_problem(v: VisitSummary, w: TimeWindow) -> str | None:
    return (
        _id_problem(v.device_id, "visit_id", v.visit_id)
        or _time_problem([("started_at", v.started_at), ("ended_at", v.ended_at)], w)
        or ("started_at is after ended_at" if v.started_at > v.ended_at else None)
    )


def heartbeat_problem(hb: Heartbeat, w: TimeWindow) -> str | None:
    fields: list[tuple[str, datetime | None]] = [("at", hb.at)]
    fields += [(f"cameras.{c}.last_frame_at", h.last_frame_at) for c, h in hb.cameras.items()]
    return _time_problem(fields, w)


def status_problem(st: DeviceStatus, w: TimeWindow) -> str | None:
    return _time_problem([("at", st.at)], w)
