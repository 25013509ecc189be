"""Traffic per local bucket of one location over a range of local days: counts, funnel, dwell.

A location's local wall-clock time is UTC plus an offset that changes only at a few
instants (DST, zone rule changes). ``LocalRange`` finds those instants with
``zoneinfo`` once per query; the SQL adds the right offset with a ``CASE`` and groups by
local wall-clock bucket (15 min, hour or day), so the database does the grouping (for
dwell it sorts each bucket's visits and the quantiles are read off in Python), the SQL is
the same on SQLite and PostgreSQL, a DST day has 23 or 25 hours, and on a
fall-back day both occurrences of the repeated hour are one bucket.

Which buckets an answer lists (``layout``): per local day, from the first to the last
bucket holding anything (any event kind for counts and funnel, a visit for dwell),
zero-filled between; ``hour`` keeps that hour's bucket(s). ``interval=day`` is one item
per day. Without ``to`` (one day, the published API) a day without traffic is ``[]``;
with ``to`` every item carries its ``date`` and ``interval=day`` lists every day of the
range, zero or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

PLURAL = {
    "impression": "impressions",
    "discovery": "discoveries",
    "engagement": "engagements",
    "interaction": "interactions",
}
KINDS = tuple(PLURAL)
RATES = {
    "discovery": "discovery-rate",
    "engagement": "engagement-rate",
    "interaction": "interaction-rate",
}
DWELL_FIELDS = ("visits", "mean-dwell-s", "median-dwell-s", "p90-dwell-s")
MAX_DAYS = 366
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
QUARTER_MS = 900_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)
_MS = timedelta(milliseconds=1)
_PROBE_MS = 12 * HOUR_MS  # offsets are sampled this often; no zone changes twice in 12 h


def day_window(day: date, tz: ZoneInfo) -> tuple[int, int]:
    """UTC epoch ms of local midnight of ``day`` and of the next day. OverflowError at the ends."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return (start - _EPOCH) // _MS, (end - _EPOCH) // _MS


def _offset_ms(tz: ZoneInfo, utc_ms: int) -> int:
    """The zone's UTC offset at an instant, in ms."""
    at = _EPOCH + timedelta(milliseconds=utc_ms)
    off = at.astimezone(tz).utcoffset()
    assert off is not None  # a ZoneInfo always has one
    return off // _MS


@dataclass(frozen=True)
class LocalRange:
    """Local days ``first``..``last`` (inclusive) of a zone, as UTC instants and offsets."""

    first: date
    last: date
    tz: ZoneInfo
    start_ms: int  # first instant of ``first``
    end_ms: int  # first instant after ``last``
    # (UTC ms from which the offset applies, offset ms); the first applies from start_ms
    offsets: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, first: date, last: date, tz: ZoneInfo) -> LocalRange:
        """Raises OverflowError or ValueError for days at the ends of the calendar."""
        start, _ = day_window(first, tz)
        _, end = day_window(last, tz)
        offsets = [(start, _offset_ms(tz, start))]
        at = start
        while at < end:
            nxt = min(at + _PROBE_MS, end - 1)
            off = _offset_ms(tz, nxt)
            if off != offsets[-1][1]:
                lo, hi = at, nxt  # offset(lo) is the old one, offset(hi) the new one
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if _offset_ms(tz, mid) == offsets[-1][1]:
                        lo = mid
                    else:
                        hi = mid
                offsets.append((hi, off))  # the first instant of the new offset
            at = nxt if nxt > at else end
        return cls(first, last, tz, start, end, tuple(offsets))

    @property
    def n_days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def wall_base_ms(self) -> int:
        """Local midnight of ``first`` as wall-clock ms since 1970-01-01 00:00."""
        return (self.first - _EPOCH_DAY).days * DAY_MS

    def irregular_days(self) -> set[date]:
        """Days whose wall clock jumps (a transition happens on them)."""
        out: set[date] = set()
        for (_, before), (t, after) in zip(self.offsets, self.offsets[1:], strict=False):
            for off in (before, after):
                out.add(_EPOCH_DAY + timedelta(milliseconds=t + off))
        return out

    def bucket_sql(self, column: str, width_ms: int) -> tuple[str, dict[str, int]]:
        """SQL for the local bucket index of ``column`` (UTC ms): bucket k of width
        ``width_ms`` counted from local midnight of ``first``; and its parameters."""
        params = {"base": self.wall_base_ms, "width": width_ms}
        if len(self.offsets) == 1:
            offset = ":o0"
        else:
            whens = " ".join(
                f"WHEN {column} < :t{i} THEN :o{i - 1}" for i in range(1, len(self.offsets))
            )
            offset = f"CASE {whens} ELSE :o{len(self.offsets) - 1} END"
            params.update({f"t{i}": t for i, (t, _) in enumerate(self.offsets) if i})
        params.update({f"o{i}": off for i, (_, off) in enumerate(self.offsets)})
        return f"({column} + {offset} - :base) / :width", params


def width_ms(interval: str, hour: int | None) -> int:
    """The grouping width a query needs: a day item over one hour is that hour's bucket."""
    if interval == "15min":
        return QUARTER_MS
    if interval == "day" and hour is None:
        return DAY_MS
    return HOUR_MS


def day_minutes(day: date, tz: ZoneInfo, width_min: int) -> list[int]:
    """Local minute-of-day starts of the ``width_min`` buckets that exist on ``day``, in order
    (on a DST day some are missing; a repeated wall-clock hour is listed once)."""
    start, end = day_window(day, tz)
    seen: set[int] = set()
    for at in range(start, end, QUARTER_MS):
        local = (_EPOCH + timedelta(milliseconds=at)).astimezone(tz)
        seen.add(local.hour * 60 + local.minute - local.minute % width_min)
    return sorted(seen)


# One item of an answer: (its day as yyyy-MM-dd, local hour or None for a day item, minute
# or None unless 15min, the bucket index in the query's width its values come from).
# A plain tuple: a year of 15-minute buckets is 35,000 of them.
Slot = tuple[str, int | None, int | None, int]


def layout(
    rng: LocalRange,
    interval: str,
    hour: int | None,
    occupied: Iterable[int],
    ranged: bool,
) -> list[Slot]:
    """The items of an answer (see the module docstring), from the bucket indices that hold
    anything (``occupied``, in ``width_ms(interval, hour)``)."""
    width = width_ms(interval, hour)
    per_day = DAY_MS // width
    isos = [(rng.first + timedelta(days=i)).isoformat() for i in range(rng.n_days)]
    if interval == "day" and hour is None:
        busy = set(occupied)
        return [(d, None, None, i) for i, d in enumerate(isos) if ranged or i in busy]
    # first and last busy bucket of each day
    ends: dict[int, tuple[int, int]] = {}
    for k in occupied:
        i = k // per_day
        lo, hi = ends.get(i, (k, k))
        ends[i] = (min(lo, k), max(hi, k))
    irregular = {(d - rng.first).days for d in rng.irregular_days()}
    width_min = width // 60000
    quarter = interval == "15min"
    out: list[Slot] = []
    for i, d in enumerate(isos):
        base = i * per_day
        if i not in ends:
            if ranged and interval == "day":
                out.append((d, None, None, base + (hour or 0)))
            continue
        lo, hi = ends[i]
        if i in irregular:  # the day's buckets as its wall clock shows them
            minutes = day_minutes(rng.first + timedelta(days=i), rng.tz, width_min)
            span = [(m, base + m // width_min) for m in minutes]
            span = [(m, k) for m, k in span if lo <= k <= hi]
        else:  # every bucket from the first to the last busy one
            if hour is not None:  # only that hour's
                h0 = base + hour * 60 // width_min
                lo, hi = max(lo, h0), min(hi, h0 + 60 // width_min - 1)
            span = [((k - base) * width_min, k) for k in range(lo, hi + 1)]
        if interval == "day":  # with an hour: that hour's bucket, if the day's span has it
            if ranged or any(m // 60 == hour for m, _ in span):
                out.append((d, None, None, base + (hour or 0)))
            continue
        for m, k in span:
            hr, mi = divmod(m, 60)
            if hour is None or hr == hour:
                out.append((d, hr, mi if quarter else None, k))
    return out


def columns(kind: str, interval: str, ranged: bool) -> list[str]:
    """Keys of an answer's items, in order (the CSV header): ``kind`` is an event kind,
    ``funnel`` or ``dwell``."""
    head = ["date"] if ranged or interval == "day" or kind in ("funnel", "dwell") else []
    if interval != "day":
        head.append("hr")
    if interval == "15min":
        head.append("min")
    if kind == "funnel":
        return head + [PLURAL[k] for k in KINDS] + list(RATES.values())
    if kind == "dwell":
        return head + list(DWELL_FIELDS)
    return head + [PLURAL[kind]]


def _head(day: str, hr: int | None, mi: int | None) -> dict[str, Any]:
    """The first keys of a funnel or dwell item: date, then hr and min where they apply."""
    if hr is None:
        return {"date": day}
    if mi is None:
        return {"date": day, "hr": hr}
    return {"date": day, "hr": hr, "min": mi}


# -- counts and funnel ---------------------------------------------------------------------

Counts = tuple[int, int, int, int]  # impressions, discoveries, engagements, interactions
NONE: Counts = (0, 0, 0, 0)
_COUNT_SQL = (
    "SELECT {bucket} AS b, "
    + ", ".join(f"COUNT(CASE WHEN kind = '{k}' THEN 1 END)" for k in KINDS)
    + " FROM events"
    " WHERE location_id = :lid AND visit_started_ms >= :start AND visit_started_ms < :end"
    " GROUP BY 1"
)


def event_counts(
    conn: Connection, location_id: int, rng: LocalRange, width: int
) -> dict[int, Counts]:
    """Local bucket index -> the four counts of events whose visit started in that bucket."""
    bucket, params = rng.bucket_sql("visit_started_ms", width)
    rows = conn.execute(
        text(_COUNT_SQL.format(bucket=bucket)),
        {**params, "lid": location_id, "start": rng.start_ms, "end": rng.end_ms},
    )
    return {int(b): (int(i), int(d), int(e), int(n)) for b, i, d, e, n in rows}


def count_items(
    slots: list[Slot], counts: dict[int, Counts], kind: str, ranged: bool
) -> list[dict[str, Any]]:
    """The published count answer of ``kind`` (keys: date, hr, min, <kind>s)."""
    key = PLURAL[kind]
    at = KINDS.index(kind)
    get = counts.get
    if not slots:
        return []
    _, hr0, min0, _ = slots[0]
    if hr0 is None:
        return [{"date": d, key: get(k, NONE)[at]} for d, _, _, k in slots]
    if ranged and min0 is not None:
        return [{"date": d, "hr": h, "min": m, key: get(k, NONE)[at]} for d, h, m, k in slots]
    if ranged:
        return [{"date": d, "hr": h, key: get(k, NONE)[at]} for d, h, _, k in slots]
    if min0 is not None:
        return [{"hr": h, "min": m, key: get(k, NONE)[at]} for _, h, m, k in slots]
    return [{"hr": h, key: get(k, NONE)[at]} for _, h, _, k in slots]


def funnel_items(slots: list[Slot], counts: dict[int, Counts]) -> list[dict[str, Any]]:
    """All four counts per bucket and the share of impressions that reached each later kind
    (rounded to 4 decimals; null without impressions)."""
    out = []
    get = counts.get
    for d, h, m, k in slots:
        imp, dis, eng, inter = get(k, NONE)
        item = _head(d, h, m)
        item["impressions"] = imp
        item["discoveries"] = dis
        item["engagements"] = eng
        item["interactions"] = inter
        if imp:
            item["discovery-rate"] = round(dis / imp, 4)
            item["engagement-rate"] = round(eng / imp, 4)
            item["interaction-rate"] = round(inter / imp, 4)
        else:
            item["discovery-rate"] = item["engagement-rate"] = item["interaction-rate"] = None
        out.append(item)
    return out


# -- dwell -----------------------------------------------------------------------------------

# The dwell seconds of the visits in range, by local bucket and in order within one: the
# quantiles are read off each bucket's sorted run in Python. (A window-function query that
# returns one row per bucket was 1.4-2x slower on SQLite for a year of buckets.)
_DWELL_SQL = (
    "SELECT {bucket} AS b, dwell_s FROM visits"
    " WHERE location_id = :lid AND started_ms >= :start AND started_ms < :end"
    " ORDER BY 1, 2"
)


class DwellStats(NamedTuple):
    """Visits of one bucket and their dwell seconds as published (3 decimals)."""

    visits: int
    mean_s: float | None
    median_s: float | None
    p90_s: float | None


NO_VISITS = DwellStats(0, None, None, None)


def interpolate(lo: float, hi: float, n: int, tenths: int) -> float:
    """The ``tenths``/10 quantile of n sorted values from the two values at the closest ranks,
    floor and ceil of h = tenths/10 * (n - 1) (0-based): lo + (h - floor h) * (hi - lo).

    This is linear interpolation between closest ranks: numpy's default method,
    PostgreSQL's ``percentile_cont`` and ``statistics.quantiles(method="inclusive")``."""
    frac = tenths * (n - 1) % 10
    return lo if not frac else (lo * (10 - frac) + hi * frac) / 10


def dwell_stats(
    conn: Connection, location_id: int, rng: LocalRange, width: int
) -> dict[int, DwellStats]:
    """Local bucket index -> dwell statistics of the visits that started in it."""
    bucket, params = rng.bucket_sql("started_ms", width)
    rows = conn.execute(
        text(_DWELL_SQL.format(bucket=bucket)),
        {**params, "lid": location_id, "start": rng.start_ms, "end": rng.end_ms},
    )
    out: dict[int, DwellStats] = {}
    for b, run in groupby(rows, key=itemgetter(0)):
        v = [float(r[1]) for r in run]
        n = len(v)
        out[int(b)] = DwellStats(
            n,
            round(sum(v) / n, 3),
            round(interpolate(v[(n - 1) // 2], v[n // 2], n, 5), 3),
            round(interpolate(v[(n - 1) * 9 // 10], v[((n - 1) * 9 + 9) // 10], n, 9), 3),
        )
    return out


def dwell_items(slots: list[Slot], stats: dict[int, DwellStats]) -> list[dict[str, Any]]:
    """Visits per bucket and their dwell mean, median and p90 (null without visits)."""
    out = []
    get = stats.get
    for d, h, m, k in slots:
        visits, mean, median, p90 = get(k, NO_VISITS)
        item = _head(d, h, m)
        item["visits"] = visits
        item["mean-dwell-s"] = mean
        item["median-dwell-s"] = median
        item["p90-dwell-s"] = p90
        out.append(item)
    return out
