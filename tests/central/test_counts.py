"""Local bucketing (central/counts.py) without the API: zone offsets over a range, the
bucket SQL evaluated by SQLite, the items an answer lists, and the dwell quantiles."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from central.counts import (
    DAY_MS,
    HOUR_MS,
    QUARTER_MS,
    LocalRange,
    columns,
    count_items,
    day_minutes,
    day_window,
    funnel_items,
    interpolate,
    layout,
    width_ms,
)

NY = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+05:45
ENGINE = create_engine("sqlite://")


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def buckets(rng: LocalRange, width: int, instants: list[datetime]) -> list[int]:
    """The bucket index SQLite computes for each instant with the range's SQL."""
    expr, params = rng.bucket_sql("t", width)
    with ENGINE.connect() as conn:
        return [
            int(
                conn.execute(
                    text(f"SELECT {expr} FROM (SELECT :at AS t)"), {**params, "at": ms(at)}
                ).scalar_one()
            )
            for at in instants
        ]


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2020, 3, 8), 23), (date(2020, 11, 1), 25), (date(2020, 1, 1), 24)],
)
def test_day_window_length_follows_dst(day, hours):
    start, end = day_window(day, NY)
    assert (end - start) == hours * HOUR_MS


def test_a_year_in_new_york_has_its_two_transitions_at_the_right_instants():
    rng = LocalRange.of(date(2020, 1, 1), date(2020, 12, 31), NY)
    assert rng.n_days == 366
    assert rng.offsets == (
        (ms(datetime(2020, 1, 1, 5, tzinfo=UTC)), -5 * HOUR_MS),
        (ms(datetime(2020, 3, 8, 7, tzinfo=UTC)), -4 * HOUR_MS),
        (ms(datetime(2020, 11, 1, 6, tzinfo=UTC)), -5 * HOUR_MS),
    )
    assert rng.irregular_days() == {date(2020, 3, 8), date(2020, 11, 1)}
    assert LocalRange.of(date(2020, 1, 1), date(2020, 12, 31), KATHMANDU).irregular_days() == set()


def test_both_occurrences_of_the_repeated_hour_are_one_bucket():
    day = date(2020, 11, 1)
    rng = LocalRange.of(day, day, NY)
    got = buckets(
        rng,
        HOUR_MS,
        [
            datetime(2020, 11, 1, 4, 0, tzinfo=UTC),  # 00:00 EDT
            datetime(2020, 11, 1, 5, 30, tzinfo=UTC),  # 01:30 EDT
            datetime(2020, 11, 1, 6, 30, tzinfo=UTC),  # 01:30 EST
            datetime(2020, 11, 1, 8, 10, tzinfo=UTC),  # 03:10 EST
        ],
    )
    assert got == [0, 1, 1, 3]
    slots = layout(rng, "hour", None, set(got), ranged=False)
    assert [(h, k) for _, h, _, k in slots] == [(0, 0), (1, 1), (2, 2), (3, 3)]
    counts = {0: (1, 0, 0, 0), 1: (2, 0, 0, 0), 3: (0, 1, 0, 0)}
    assert count_items(slots, counts, "impression", ranged=False) == [
        {"hr": 0, "impressions": 1},
        {"hr": 1, "impressions": 2},
        {"hr": 2, "impressions": 0},
        {"hr": 3, "impressions": 0},
    ]


def test_spring_forward_day_has_no_two_oclock():
    day = date(2020, 3, 8)
    assert [m // 60 for m in day_minutes(day, NY, 60)] == [0, 1, *range(3, 24)]
    rng = LocalRange.of(day, day, NY)
    got = buckets(
        rng,
        HOUR_MS,
        [datetime(2020, 3, 8, 6, 59, tzinfo=UTC), datetime(2020, 3, 8, 7, 0, tzinfo=UTC)],
    )
    assert got == [1, 3]  # 01:59 EST, then 03:00 EDT
    slots = layout(rng, "hour", None, set(got), ranged=False)
    assert [h for _, h, _, _ in slots] == [1, 3]


def test_half_hour_offsets_land_on_quarter_buckets():
    day = date(2020, 1, 1)
    rng = LocalRange.of(day, day, KATHMANDU)
    (k,) = buckets(rng, QUARTER_MS, [datetime(2020, 1, 1, 3, 20, tzinfo=UTC)])  # 09:05 local
    assert k == 9 * 4
    slots = layout(rng, "15min", None, {k}, ranged=False)
    assert count_items(slots, {k: (1, 0, 0, 0)}, "impression", ranged=False) == [
        {"hr": 9, "min": 0, "impressions": 1}
    ]


def test_a_range_numbers_buckets_from_its_first_day():
    rng = LocalRange.of(date(2020, 1, 1), date(2020, 1, 3), NY)
    at = datetime(2020, 1, 3, 15, 0, tzinfo=UTC)  # 10:00 local on the third day
    assert buckets(rng, DAY_MS, [at]) == [2]
    assert buckets(rng, HOUR_MS, [at]) == [2 * 24 + 10]
    days = layout(rng, "day", None, {2}, ranged=True)
    assert [(d, k) for d, _, _, k in days] == [
        ("2020-01-01", 0),
        ("2020-01-02", 1),
        ("2020-01-03", 2),
    ]
    hours = layout(rng, "hour", None, {58}, ranged=True)
    assert [(d, h) for d, h, _, _ in hours] == [("2020-01-03", 10)]
    assert count_items(hours, {58: (0, 4, 0, 0)}, "discovery", ranged=True) == [
        {"date": "2020-01-03", "hr": 10, "discoveries": 4}
    ]


def test_one_day_without_traffic_is_empty_for_every_interval():
    day = date(2020, 1, 1)
    rng = LocalRange.of(day, day, NY)
    for interval in ("hour", "15min", "day"):
        assert layout(rng, interval, None, set(), ranged=False) == []
        assert count_items([], {}, "impression", ranged=False) == []


def test_day_item_for_one_hour_uses_that_hours_bucket():
    day = date(2020, 1, 1)
    rng = LocalRange.of(day, day, NY)
    assert width_ms("day", 14) == HOUR_MS and width_ms("day", None) == DAY_MS
    assert layout(rng, "day", 14, {14}, ranged=False) == [("2020-01-01", None, None, 14)]
    assert layout(rng, "day", 5, {14}, ranged=False) == []


def test_funnel_rates_are_shares_of_impressions_and_null_without_any():
    slots = [("2020-01-01", 9, None, 9), ("2020-01-01", 10, None, 10)]
    items = funnel_items(slots, {9: (4, 3, 1, 0)})
    assert items[0] == {
        "date": "2020-01-01",
        "hr": 9,
        "impressions": 4,
        "discoveries": 3,
        "engagements": 1,
        "interactions": 0,
        "discovery-rate": 0.75,
        "engagement-rate": 0.25,
        "interaction-rate": 0.0,
    }
    assert items[1]["discovery-rate"] is None and items[1]["impressions"] == 0
    assert list(items[0]) == columns("funnel", "hour", ranged=False)


def test_csv_columns_follow_the_json_keys():
    assert columns("impression", "hour", ranged=False) == ["hr", "impressions"]
    assert columns("impression", "15min", ranged=True) == ["date", "hr", "min", "impressions"]
    assert columns("engagement", "day", ranged=False) == ["date", "engagements"]
    assert columns("dwell", "day", ranged=True) == [
        "date",
        "visits",
        "mean-dwell-s",
        "median-dwell-s",
        "p90-dwell-s",
    ]


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=40))
def test_interpolated_quantiles_match_the_statistics_module(values):
    s = sorted(v / 10 for v in values)
    n = len(s)
    for tenths in (5, 9):
        h = tenths * (n - 1) // 10
        lo, hi = s[h], s[min(h + 1, n - 1)]
        want = statistics.quantiles(s, n=10, method="inclusive")[tenths - 1] if n > 1 else s[0]
        assert interpolate(lo, hi, n, tenths) == pytest.approx(want)
