"""Traffic counts: one location, one local day, bucketed by the local time of each visit's start.

The database groups a day's events into 15-minute UTC slots counted from local
midnight (every real UTC offset is a multiple of 15 minutes, so slots never
straddle a local bucket); Python then maps each slot to its local hour/minute
with ``zoneinfo``. That keeps the SQL identical on SQLite and PostgreSQL and
handles DST days (23 or 25 hours) correctly.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

SLOT_MS = 15 * 60 * 1000
PLURAL = {
    "impression": "impressions",
    "discovery": "discoveries",
    "engagement": "engagements",
    "interaction": "interactions",
}
INTERVALS = ("hour", "15min", "day")

_SLOT_SQL = text(
    "SELECT kind, (visit_started_ms - :start) / :slot AS s, COUNT(*) AS n "
    "FROM events WHERE location_id = :lid "
    "AND visit_started_ms >= :start AND visit_started_ms < :end "
    "GROUP BY kind, (visit_started_ms - :start) / :slot"
)


def day_window(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """UTC epoch ms of local midnight of ``day`` and of the next day. OverflowError at the ends."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return (start - epoch) // timedelta(milliseconds=1), (end - epoch) // timedelta(milliseconds=1)


def slot_counts(
    conn: Connection, location_id: int, start_ms: int, end_ms: int
) -> dict[tuple[int, str], int]:
    """(slot index, kind) -> count of events whose visit started in that slot."""
    rows = conn.execute(
        _SLOT_SQL, {"start": start_ms, "end": end_ms, "lid": location_id, "slot": SLOT_MS}
    )
    return {(int(s), kind): int(n) for kind, s, n in rows}


def bucket(
    slots: dict[tuple[int, str], int],
    kind: str,
    day: date,
    tz: ZoneInfo,
    start_ms: int,
    end_ms: int,
    interval: str = "hour",
    hour: int | None = None,
) -> list[dict[str, int | str]]:
    """The published response for ``kind``: zero-filled local buckets from the first to
    the last bucket holding an event of any kind; ``[]`` for a day without traffic."""
    key = PLURAL[kind]
    width = 60 if interval in ("hour", "day") else 15
    labels: list[tuple[int, int]] = []  # local (hour, minute) in the order they occur
    totals: dict[tuple[int, int], int] = defaultdict(int)  # all kinds: decides the range
    mine: dict[tuple[int, int], int] = defaultdict(int)
    n_slots = (end_ms - start_ms) // SLOT_MS
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    slot_label: dict[int, tuple[int, int]] = {}
    seen: set[tuple[int, int]] = set()
    for s in range(n_slots):
        local = (epoch + timedelta(milliseconds=start_ms + s * SLOT_MS)).astimezone(tz)
        label = (local.hour, local.minute - local.minute % width)
        slot_label[s] = label
        if label not in seen:  # a repeated local hour (DST fall-back) is one bucket
            seen.add(label)
            labels.append(label)
    for (s, k), n in slots.items():
        bucket = slot_label.get(s)
        if bucket is None:
            continue
        totals[bucket] += n
        if k == kind:
            mine[bucket] += n
    used = [i for i, lab in enumerate(labels) if totals.get(lab)]
    if not used:
        return []
    span = labels[used[0] : used[-1] + 1]
    if hour is not None:
        span = [lab for lab in span if lab[0] == hour]
        if not span:
            return []
    if interval == "day":
        return [{"date": day.isoformat(), key: sum(mine.get(lab, 0) for lab in span)}]
    if interval == "15min":
        return [{"hr": h, "min": m, key: mine.get((h, m), 0)} for h, m in span]
    return [{"hr": h, key: mine.get((h, m), 0)} for h, m in span]
