"""The published API reference's example day, as contract events.

madison-ave-store, 2020-01-01 (America/New_York), hours 9..15. Visits are spread
evenly over each hour; the first N visits of an hour reach discovery, and so on,
so the counts are exactly the published numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from exteros.contract import Event, EventKind, VisitSummary, topic

LOCATION = "madison-ave-store"
DEVICE = "edge-madison-01"
CAMERA = "cam-entrance"
TZ = "America/New_York"
DAY = "2020-01-01"
HOURS = [9, 10, 11, 12, 13, 14, 15]
COUNTS = {
    "impression": [100, 200, 250, 300, 250, 150, 50],
    "discovery": [50, 150, 200, 250, 200, 100, 0],
    "engagement": [0, 100, 150, 200, 150, 50, 0],
    "interaction": [0, 50, 100, 150, 100, 0, 0],
}
PLURAL = {
    "impression": "impressions",
    "discovery": "discoveries",
    "engagement": "engagements",
    "interaction": "interactions",
}
# The published example JSON, verbatim in meaning.
PUBLISHED = {
    kind: [{"hr": h, PLURAL[kind]: n} for h, n in zip(HOURS, counts, strict=True)]
    for kind, counts in COUNTS.items()
}
OFFSET_S = {"impression": 0.6, "discovery": 3.0, "engagement": 10.0, "interaction": 5.0}


def visit_starts(hour: int, n: int, day: str = DAY, tz: str = TZ) -> list[datetime]:
    base = datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=ZoneInfo(tz))
    return [(base + timedelta(seconds=i * 3600 / n)).astimezone(UTC) for i in range(n)]


def make_event(
    kind: str,
    start: datetime,
    seq: int,
    location: str = LOCATION,
    device: str = DEVICE,
) -> Event:
    ms = int(start.timestamp() * 1000)
    visit_id = f"{device}/{CAMERA}/{ms}-{seq}"
    return Event(
        event_id=f"{visit_id}/{location}/{kind}",
        kind=EventKind(kind),
        location=location,
        device_id=device,
        camera_id=CAMERA,
        visit_id=visit_id,
        visit_started_at=start,
        occurred_at=start + timedelta(seconds=OFFSET_S[kind]),
        dwell_s=OFFSET_S[kind],
        confidence=0.8,
    )


def published_day(location: str = LOCATION, device: str = DEVICE) -> list[Event | VisitSummary]:
    """All events (and one visit summary per visit) of the published example day."""
    out: list[Event | VisitSummary] = []
    seq = 0
    for idx, hour in enumerate(HOURS):
        n = COUNTS["impression"][idx]
        for i, start in enumerate(visit_starts(hour, n)):
            seq += 1
            kinds = [k for k in COUNTS if i < COUNTS[k][idx]]
            events = [make_event(k, start, seq, location, device) for k in kinds]
            out.extend(events)
            out.append(
                VisitSummary(
                    visit_id=events[0].visit_id,
                    location=location,
                    device_id=device,
                    camera_id=CAMERA,
                    started_at=start,
                    ended_at=start + timedelta(seconds=12),
                    dwell_s=12.0,
                    kinds=[EventKind(k) for k in kinds],
                )
            )
    return out


def quarter_counts(kind: str) -> list[dict]:
    """Expected interval=15min answer, computed from the same generator."""
    idx_of = {h: i for i, h in enumerate(HOURS)}
    out = []
    for hour in HOURS:
        idx = idx_of[hour]
        starts = visit_starts(hour, COUNTS["impression"][idx])
        for q in (0, 15, 30, 45):
            n = sum(
                1
                for i, s in enumerate(starts)
                if i < COUNTS[kind][idx] and s.astimezone(ZoneInfo(TZ)).minute // 15 * 15 == q
            )
            out.append({"hr": hour, "min": q, PLURAL[kind]: n})
    return out


def load(engine, messages) -> None:  # noqa: ANN001
    """Store events and visit summaries through the ingest write path, 1000 per batch."""
    from central.store import Ingestor, Message, dump_json

    ing = Ingestor(engine)
    batch = []
    for m in messages:
        kind = "events" if m.schema_ == "exteros.event/1" else "visits"
        batch.append(Message(topic(m.device_id, kind), dump_json(m.to_payload())))
    for i in range(0, len(batch), 1000):
        res = ing.process(batch[i : i + 1000])
        assert res.dead == 0, res.reasons
