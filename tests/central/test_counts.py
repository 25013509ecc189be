"""Local bucketing of 15-minute UTC slots, without a database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from central.counts import SLOT_MS, bucket, day_window

NY = ZoneInfo("America/New_York")


def slots_for(day: date, tz: ZoneInfo, events: list[tuple[datetime, str]]) -> tuple[dict, int, int]:
    start, end = day_window(day, tz)
    out: dict = {}
    for at, kind in events:
        ms = int(at.timestamp() * 1000)
        assert start <= ms < end
        key = ((ms - start) // SLOT_MS, kind)
        out[key] = out.get(key, 0) + 1
    return out, start, end


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2020, 3, 8), 23), (date(2020, 11, 1), 25), (date(2020, 1, 1), 24)],
)
def test_day_window_length_follows_dst(day, hours):
    start, end = day_window(day, NY)
    assert (end - start) == hours * 3600 * 1000


def test_fall_back_repeated_hour_is_one_bucket():
    day = date(2020, 11, 1)
    events = [
        (datetime(2020, 11, 1, 5, 30, tzinfo=UTC), "impression"),  # 01:30 EDT
        (datetime(2020, 11, 1, 6, 30, tzinfo=UTC), "impression"),  # 01:30 EST
        (datetime(2020, 11, 1, 8, 10, tzinfo=UTC), "discovery"),  # 03:10 EST
    ]
    slots, start, end = slots_for(day, NY, events)
    assert bucket(slots, "impression", day, NY, start, end) == [
        {"hr": 1, "impressions": 2},
        {"hr": 2, "impressions": 0},
        {"hr": 3, "impressions": 0},
    ]
    assert bucket(slots, "discovery", day, NY, start, end, "day") == [
        {"date": "2020-11-01", "discoveries": 1}
    ]
    assert bucket(slots, "discovery", day, NY, start, end, "day", hour=1) == [
        {"date": "2020-11-01", "discoveries": 0}
    ]
    assert bucket(slots, "discovery", day, NY, start, end, "day", hour=5) == []


def test_half_hour_offsets_land_on_quarter_buckets():
    tz = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
    day = date(2020, 1, 1)
    slots, start, end = slots_for(
        day, tz, [(datetime(2020, 1, 1, 3, 20, tzinfo=UTC), "impression")]
    )
    assert bucket(slots, "impression", day, tz, start, end, "15min") == [
        {"hr": 9, "min": 0, "impressions": 1}
    ]


def test_no_events_is_empty_for_every_interval():
    day = date(2020, 1, 1)
    start, end = day_window(day, NY)
    for interval in ("hour", "15min", "day"):
        assert bucket({}, "impression", day, NY, start, end, interval) == []
