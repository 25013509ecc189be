"""The analyst's additions to the API (issue 10), through the real app on SQLite and PostgreSQL:
date ranges (``to``), the funnel and dwell endpoints, CSV, unknown query parameters and
``/v1/devices``."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from central.admin import add_device, add_location, create_key
from central.api import create_app
from central.config import ApiSettings
from central.db import make_engine, migrate
from central.store import Ingestor, Message, dump_json
from exteros.contract import EventKind, Heartbeat, VisitSummary, topic
from tests.central import scenario as sc
from tests.central.conftest import DB_KINDS, new_db_url

KINDS = ["impression", "discovery", "engagement", "interaction"]
PATHS = {
    "impression": "impression-counts",
    "discovery": "discovery-counts",
    "engagement": "engagement-counts",
    "interaction": "interaction-counts",
}
STORE = sc.LOCATION  # America/New_York
LAB = "dwell-lab"  # Europe/London: BST (UTC+1) in June
LONDON = ZoneInfo("Europe/London")
NY = ZoneInfo(sc.TZ)
# Dwell seconds of visits at dwell-lab on 2020-06-01, by local (hour, minute) of the start.
DWELLS = {(10, 0): [1.0, 2.0, 3.0], (10, 20): [4.0, 10.0], (11, 5): [2.0, 4.0], (13, 40): [5.0]}


def ny(y: int, mo: int, d: int, h: int, mi: int = 0, fold: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NY, fold=fold).astimezone(UTC)


def visit(seq: int, start: datetime, dwell: float, location: str = LAB) -> VisitSummary:
    ms = int(start.timestamp() * 1000)
    return VisitSummary(
        visit_id=f"{sc.DEVICE}/{sc.CAMERA}/{ms}-{seq}",
        location=location,
        device_id=sc.DEVICE,
        camera_id=sc.CAMERA,
        started_at=start,
        ended_at=start + timedelta(seconds=dwell),
        dwell_s=dwell,
        kinds=[EventKind.impression],
    )


def heartbeat(engine, device: str, locations: list[str]) -> None:  # noqa: ANN001
    hb = Heartbeat(
        at=datetime.now(UTC).replace(microsecond=0),
        uptime_s=100.0,
        locations=locations,
        cameras={
            "cam-entrance": {
                "fps": 12.5,
                "connected": True,
                "last_frame_at": datetime.now(UTC).replace(microsecond=0),
            }
        },
        outbox_depth=3,
        version="1.2.3",
    )
    res = Ingestor(engine).process(
        [Message(topic(device, "heartbeat"), dump_json(hb.to_payload()))]
    )
    assert res.dead == 0, res.reasons


def extra_events() -> list:
    ev = sc.make_event
    return [
        # Across months: 2020-01-31 10:15 and 2020-02-01 11:00 local.
        ev("impression", ny(2020, 1, 31, 10, 15), 80001),
        ev("impression", ny(2020, 2, 1, 11, 0), 80002),
        ev("discovery", ny(2020, 2, 1, 11, 0), 80002),
        # Spring forward (2020-03-08 has no 02:xx): 03-07 23:30 EST, 03-08 01:30 EST,
        # 03-08 03:30 EDT, 03-09 00:15 EDT.
        ev("impression", ny(2020, 3, 7, 23, 30), 80003),
        ev("impression", ny(2020, 3, 8, 1, 30), 80004),
        ev("impression", ny(2020, 3, 8, 3, 30), 80005),
        ev("impression", ny(2020, 3, 9, 0, 15), 80006),
        # Fall back (2020-11-01 has 01:xx twice): 01:30 EDT, 01:30 EST, 03:10 EST.
        ev("impression", ny(2020, 11, 1, 1, 30, fold=0), 80007),
        ev("impression", ny(2020, 11, 1, 1, 30, fold=1), 80008),
        ev("discovery", ny(2020, 11, 1, 3, 10), 80009),
        # A bucket with a discovery but no impression: its funnel rates are null.
        ev("discovery", ny(2020, 1, 2, 9, 0), 80010),
        ev("impression", ny(2020, 1, 2, 11, 0), 80011),
    ]


def lab_visits() -> list[VisitSummary]:
    out = []
    seq = 0
    for (h, m), dwells in DWELLS.items():
        for i, d in enumerate(dwells):
            seq += 1
            start = datetime(2020, 6, 1, h, m + i, tzinfo=LONDON).astimezone(UTC)
            out.append(visit(seq, start, d))
    return out


@pytest.fixture(scope="module", params=DB_KINDS)
def env(request, tmp_path_factory):
    url, pg = new_db_url(request.param, tmp_path_factory.mktemp("analysis"))
    engine = make_engine(url)
    migrate(engine)
    add_location(engine, STORE, "acme", sc.TZ)
    add_location(engine, LAB, "acme", "Europe/London")
    add_location(engine, "rival-store", "rival", "Europe/Paris")
    add_device(engine, sc.DEVICE, "acme")
    add_device(engine, "edge-acme-quiet", "acme")
    add_device(engine, "edge-rival", "rival")
    key, _ = create_key(engine, "acme")
    rival_key, _ = create_key(engine, "rival")
    sc.load(engine, [*sc.published_day(), *extra_events(), *lab_visits()])
    heartbeat(engine, sc.DEVICE, [STORE, LAB])
    heartbeat(engine, "edge-rival", ["rival-store"])
    settings = ApiSettings(rate_per_s=10000, rate_burst=10000, auth_fail_limit=10000)
    client = TestClient(create_app(engine, settings))
    yield {
        "client": client,
        "key": key,
        "rival_key": rival_key,
        "engine": engine,
        "db": request.param,
    }
    client.close()
    engine.dispose()
    if pg:
        pg.drop()


def get(env, path: str, key: str | None = "default", headers=None, **params):  # noqa: ANN001
    hdrs = dict(headers or {})
    if key == "default":
        key = env["key"]
    if key is not None:
        hdrs["Authorization"] = key
    return env["client"].get(path, headers=hdrs, params=params)


def ok(env, path: str, **params):  # noqa: ANN001, ANN201
    r = get(env, path, **params)
    assert r.status_code == 200, r.text
    return r.json()


def counts(kind: str, location: str, day: str) -> str:
    return f"/v1/traffic/{PATHS[kind]}/{location}/{day}"


# -- to: ranges of local days ----------------------------------------------------------------


def test_range_of_one_day_adds_the_date_first(env):
    r = get(env, counts("impression", STORE, sc.DAY), to=sc.DAY)
    assert r.json() == [{"date": sc.DAY, **item} for item in sc.PUBLISHED["impression"]]
    assert r.text.startswith('[{"date":"2020-01-01","hr":9,"impressions":100}')
    quarters = ok(env, counts("discovery", STORE, sc.DAY), to=sc.DAY, interval="15min")
    assert quarters == [{"date": sc.DAY, **item} for item in sc.quarter_counts("discovery")]
    assert list(quarters[0]) == ["date", "hr", "min", "discoveries"]


def test_without_to_the_answers_are_unchanged(env):
    r = get(env, counts("impression", STORE, sc.DAY))
    assert r.text.startswith('[{"hr":9,"impressions":100}')
    assert ok(env, counts("engagement", STORE, sc.DAY), interval="day") == [
        {"date": sc.DAY, "engagements": 650}
    ]
    assert ok(env, counts("impression", STORE, "2020-01-03"), interval="day") == []


def test_range_across_months(env):
    got = ok(env, counts("impression", STORE, "2020-01-30"), to="2020-02-02", interval="day")
    assert got == [
        {"date": "2020-01-30", "impressions": 0},
        {"date": "2020-01-31", "impressions": 1},
        {"date": "2020-02-01", "impressions": 1},
        {"date": "2020-02-02", "impressions": 0},
    ]
    # Hour buckets: each day from its own first to last busy bucket; quiet days list nothing.
    got = ok(env, counts("discovery", STORE, "2020-01-30"), to="2020-02-02")
    assert got == [
        {"date": "2020-01-31", "hr": 10, "discoveries": 0},
        {"date": "2020-02-01", "hr": 11, "discoveries": 1},
    ]


def test_range_across_spring_forward(env):
    hours = ok(env, counts("impression", STORE, "2020-03-07"), to="2020-03-09")
    assert hours == [
        {"date": "2020-03-07", "hr": 23, "impressions": 1},
        {"date": "2020-03-08", "hr": 1, "impressions": 1},  # no 02:xx that day
        {"date": "2020-03-08", "hr": 3, "impressions": 1},
        {"date": "2020-03-09", "hr": 0, "impressions": 1},
    ]
    days = ok(env, counts("impression", STORE, "2020-03-07"), to="2020-03-09", interval="day")
    assert [i["impressions"] for i in days] == [1, 2, 1]
    # The same days one at a time give the same buckets.
    for day in ("2020-03-07", "2020-03-08", "2020-03-09"):
        single = ok(env, counts("impression", STORE, day))
        assert [{"date": day, **i} for i in single] == [i for i in hours if i["date"] == day]


def test_range_across_fall_back(env):
    got = ok(env, counts("impression", STORE, "2020-10-31"), to="2020-11-02")
    # Both 01:30s (EDT and EST) are one bucket; the day's range runs to the 03:10 discovery.
    assert got == [
        {"date": "2020-11-01", "hr": 1, "impressions": 2},
        {"date": "2020-11-01", "hr": 2, "impressions": 0},
        {"date": "2020-11-01", "hr": 3, "impressions": 0},
    ]
    got = ok(env, counts("discovery", STORE, "2020-10-31"), to="2020-11-02", interval="day")
    assert got == [
        {"date": "2020-10-31", "discoveries": 0},
        {"date": "2020-11-01", "discoveries": 1},
        {"date": "2020-11-02", "discoveries": 0},
    ]
    got = ok(env, counts("impression", STORE, "2020-10-31"), to="2020-11-02", interval="15min")
    assert [(i["hr"], i["min"], i["impressions"]) for i in got][:3] == [
        (1, 30, 2),
        (1, 45, 0),
        (2, 0, 0),
    ]


def test_hour_filter_with_a_range(env):
    got = ok(env, counts("impression", STORE, "2020-03-07"), to="2020-03-09", hour="3")
    assert got == [{"date": "2020-03-08", "hr": 3, "impressions": 1}]
    got = ok(
        env, counts("impression", STORE, "2020-03-07"), to="2020-03-09", hour="1", interval="day"
    )
    assert got == [
        {"date": "2020-03-07", "impressions": 0},
        {"date": "2020-03-08", "impressions": 1},
        {"date": "2020-03-09", "impressions": 0},
    ]


def test_a_leap_year_is_366_days_and_adds_up(env):
    got = ok(env, counts("impression", STORE, "2020-01-01"), to="2020-12-31", interval="day")
    assert len(got) == 366 and got[0]["date"] == "2020-01-01" and got[-1]["date"] == "2020-12-31"
    assert sum(i["impressions"] for i in got) == sum(sc.COUNTS["impression"]) + 9
    assert get(env, counts("impression", STORE, "2021-01-01"), to="2022-01-01").status_code == 200


@pytest.mark.parametrize(
    ("date", "to", "message"),
    [
        ("2020-01-01", "2021-01-01", "date..to spans 367 days; at most 366"),
        ("2020-01-05", "2020-01-01", "to (2020-01-01) is before date (2020-01-05)"),
        ("2020-01-01", "2020-02-30", "to must be a real day as yyyy-MM-dd, not '2020-02-30'"),
        ("2020-01-01", "tomorrow", "to must be a real day as yyyy-MM-dd, not 'tomorrow'"),
        ("2020-01-01", "", "to must be a real day as yyyy-MM-dd, not ''"),
        ("2020-13-01", "2020-01-01", "date must be a real day as yyyy-MM-dd, not '2020-13-01'"),
        ("9999-12-01", "9999-12-31", "date '9999-12-01..9999-12-31' is out of range"),
    ],
)
@pytest.mark.parametrize("endpoint", ["impression-counts", "funnel", "dwell"])
def test_bad_ranges_are_400(env, endpoint, date, to, message):
    r = get(env, f"/v1/traffic/{endpoint}/{STORE}/{date}", to=to)
    assert r.status_code == 400
    assert r.json() == {"error": {"status": 400, "message": message}}


# -- funnel ------------------------------------------------------------------------------------


def test_funnel_of_the_published_day(env):
    got = ok(env, f"/v1/traffic/funnel/{STORE}/{sc.DAY}")
    assert got[0] == {
        "date": "2020-01-01",
        "hr": 9,
        "impressions": 100,
        "discoveries": 50,
        "engagements": 0,
        "interactions": 0,
        "discovery-rate": 0.5,
        "engagement-rate": 0.0,
        "interaction-rate": 0.0,
    }
    assert got[1]["discovery-rate"] == 0.75 and got[1]["interaction-rate"] == 0.25
    assert [i["hr"] for i in got] == sc.HOURS
    for kind in KINDS:  # the same numbers as the count endpoints
        assert [i[sc.PLURAL[kind]] for i in got] == sc.COUNTS[kind]
    (day,) = ok(env, f"/v1/traffic/funnel/{STORE}/{sc.DAY}", interval="day")
    assert day == {
        "date": "2020-01-01",
        "impressions": 1300,
        "discoveries": 950,
        "engagements": 650,
        "interactions": 400,
        "discovery-rate": 0.7308,  # 950 / 1300 = 0.730769...
        "engagement-rate": 0.5,
        "interaction-rate": 0.3077,  # 400 / 1300 = 0.307692...
    }
    quarters = ok(env, f"/v1/traffic/funnel/{STORE}/{sc.DAY}", interval="15min", hour="9")
    assert [list(q)[:3] for q in quarters] == [["date", "hr", "min"]] * 4


def test_funnel_rates_are_null_without_impressions(env):
    got = ok(env, f"/v1/traffic/funnel/{STORE}/2020-01-02")
    assert got[0]["hr"] == 9 and got[0]["impressions"] == 0 and got[0]["discoveries"] == 1
    assert got[0]["discovery-rate"] is None and got[0]["interaction-rate"] is None
    assert got[-1] == {
        "date": "2020-01-02",
        "hr": 11,
        "impressions": 1,
        "discoveries": 0,
        "engagements": 0,
        "interactions": 0,
        "discovery-rate": 0.0,
        "engagement-rate": 0.0,
        "interaction-rate": 0.0,
    }
    assert ok(env, f"/v1/traffic/funnel/{STORE}/2020-01-03") == []
    (quiet,) = ok(env, f"/v1/traffic/funnel/{STORE}/2020-01-03", to="2020-01-03", interval="day")
    assert quiet["impressions"] == 0 and quiet["discovery-rate"] is None


def test_funnel_over_a_range(env):
    got = ok(env, f"/v1/traffic/funnel/{STORE}/2020-01-31", to="2020-02-01", interval="day")
    assert [(i["date"], i["impressions"], i["discoveries"], i["discovery-rate"]) for i in got] == [
        ("2020-01-31", 1, 0, 0.0),
        ("2020-02-01", 1, 1, 1.0),
    ]


# -- dwell -------------------------------------------------------------------------------------


def test_dwell_per_hour_against_hand_computed_values(env):
    got = ok(env, f"/v1/traffic/dwell/{LAB}/2020-06-01")
    assert got == [
        # [1, 2, 3, 4, 10]: p90 rank 0.9 * 4 = 3.6 -> 4 + 0.6 * (10 - 4) = 7.6
        {
            "date": "2020-06-01",
            "hr": 10,
            "visits": 5,
            "mean-dwell-s": 4.0,
            "median-dwell-s": 3.0,
            "p90-dwell-s": 7.6,
        },
        # [2, 4]: median 3, p90 rank 0.9 -> 2 + 0.9 * 2 = 3.8
        {
            "date": "2020-06-01",
            "hr": 11,
            "visits": 2,
            "mean-dwell-s": 3.0,
            "median-dwell-s": 3.0,
            "p90-dwell-s": 3.8,
        },
        {
            "date": "2020-06-01",
            "hr": 12,
            "visits": 0,
            "mean-dwell-s": None,
            "median-dwell-s": None,
            "p90-dwell-s": None,
        },
        {
            "date": "2020-06-01",
            "hr": 13,
            "visits": 1,
            "mean-dwell-s": 5.0,
            "median-dwell-s": 5.0,
            "p90-dwell-s": 5.0,
        },
    ]


def test_dwell_per_day_and_quarter(env):
    (day,) = ok(env, f"/v1/traffic/dwell/{LAB}/2020-06-01", interval="day")
    # [1, 2, 2, 3, 4, 4, 5, 10]: mean 31/8, median (3 + 4) / 2, p90 rank 6.3 -> 5 + 0.3 * 5
    assert day == {
        "date": "2020-06-01",
        "visits": 8,
        "mean-dwell-s": 3.875,
        "median-dwell-s": 3.5,
        "p90-dwell-s": 6.5,
    }
    all_dwells = sorted(d for ds in DWELLS.values() for d in ds)
    assert day["p90-dwell-s"] == pytest.approx(
        statistics.quantiles(all_dwells, n=10, method="inclusive")[8]
    )
    quarters = ok(env, f"/v1/traffic/dwell/{LAB}/2020-06-01", interval="15min", hour="10")
    assert [(q["min"], q["visits"], q["median-dwell-s"], q["p90-dwell-s"]) for q in quarters] == [
        (0, 3, 2.0, 2.8),  # [1, 2, 3]: rank 1.8 -> 2 + 0.8 * 1
        (15, 2, 7.0, 9.4),  # [4, 10]: rank 0.9 -> 4 + 0.9 * 6
        (30, 0, None, None),  # zero-filled: the day's range runs to 13:30
        (45, 0, None, None),
    ]
    (eleven,) = ok(env, f"/v1/traffic/dwell/{LAB}/2020-06-01", interval="day", hour="11")
    assert eleven["visits"] == 2 and eleven["p90-dwell-s"] == 3.8


def test_dwell_agrees_with_percentile_cont_and_statistics(env):
    """PostgreSQL's percentile_cont, and Python's statistics on SQLite, give the same p90."""
    with env["engine"].connect() as c:
        where = "FROM visits v JOIN locations l ON l.id = v.location_id WHERE l.name = :n"
        if env["db"] == "postgres":
            p90, median = c.execute(
                text(
                    "SELECT percentile_cont(0.9) WITHIN GROUP (ORDER BY dwell_s), "
                    f"percentile_cont(0.5) WITHIN GROUP (ORDER BY dwell_s) {where}"
                ),
                {"n": LAB},
            ).one()
        else:
            dwells = sorted(c.execute(text(f"SELECT dwell_s {where}"), {"n": LAB}).scalars())
            p90 = statistics.quantiles(dwells, n=10, method="inclusive")[8]
            median = statistics.median(dwells)
    (day,) = ok(env, f"/v1/traffic/dwell/{LAB}/2020-06-01", interval="day")
    assert (day["p90-dwell-s"], day["median-dwell-s"]) == (round(p90, 3), round(median, 3))


def test_dwell_over_a_range_and_of_the_published_day(env):
    got = ok(env, f"/v1/traffic/dwell/{LAB}/2020-05-31", to="2020-06-02", interval="day")
    assert [(i["date"], i["visits"], i["mean-dwell-s"]) for i in got] == [
        ("2020-05-31", 0, None),
        ("2020-06-01", 8, 3.875),
        ("2020-06-02", 0, None),
    ]
    hours = ok(env, f"/v1/traffic/dwell/{STORE}/{sc.DAY}")
    assert [(i["hr"], i["visits"]) for i in hours] == list(
        zip(sc.HOURS, sc.COUNTS["impression"], strict=True)
    )
    assert {i["p90-dwell-s"] for i in hours} == {12.0}  # every published visit lasted 12 s
    assert ok(env, f"/v1/traffic/dwell/{LAB}/2020-06-02") == []


# -- CSV -------------------------------------------------------------------------------------


def typed(value: str):  # noqa: ANN201
    """A CSV cell back as the JSON value: '' is null, numbers are numbers."""
    if value == "":
        return None
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


CSV_CASES = [
    ("impression-counts", STORE, sc.DAY, {}),
    ("engadgment-counts", STORE, sc.DAY, {"interval": "15min"}),
    ("discovery-counts", STORE, sc.DAY, {"interval": "day"}),
    ("interaction-counts", STORE, "2020-03-07", {"to": "2020-03-09"}),
    ("engagement-counts", STORE, "2020-01-30", {"to": "2020-02-02", "interval": "day"}),
    ("funnel", STORE, sc.DAY, {"interval": "15min", "hour": "10"}),
    ("funnel", STORE, "2020-01-02", {}),
    ("funnel", STORE, "2020-01-01", {"to": "2020-01-03", "interval": "day"}),
    ("dwell", LAB, "2020-06-01", {}),
    ("dwell", LAB, "2020-05-31", {"to": "2020-06-02", "interval": "day"}),
    ("impression-counts", STORE, "2020-06-01", {}),  # empty: the header only
    ("dwell", LAB, "2020-06-02", {"interval": "15min"}),
]


@pytest.mark.parametrize(("endpoint", "location", "day", "params"), CSV_CASES)
def test_csv_equals_the_json(env, endpoint, location, day, params):
    path = f"/v1/traffic/{endpoint}/{location}/{day}"
    as_json = ok(env, path, **params)
    for r in (
        get(env, path, format="csv", **params),
        get(env, path, headers={"Accept": "text/csv"}, **params),
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        reader = csv.DictReader(io.StringIO(r.text))
        rows = [{k: typed(v) for k, v in row.items()} for row in reader]
        assert rows == as_json
        if as_json:
            assert reader.fieldnames == list(as_json[0])
        else:
            assert r.text.count("\n") == 1  # just the header row


def test_format_json_wins_over_accept_and_errors_stay_json(env):
    path = counts("impression", STORE, sc.DAY)
    r = get(env, path, headers={"Accept": "text/csv"}, format="json")
    assert r.headers["content-type"] == "application/json" and r.json()[0]["hr"] == 9
    for accept in ("application/json", "*/*", "text/csv;q=0.5, application/json", "text/html"):
        r = get(env, path, headers={"Accept": accept})
        assert r.headers["content-type"] == "application/json", accept
    r = get(env, path, headers={"Accept": "application/json;q=0.1, text/csv"})
    assert r.headers["content-type"].startswith("text/csv")
    r = get(env, counts("impression", STORE, "2020-13-01"), format="csv")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("date must")
    r = get(env, path, headers={"Accept": "text/csv"}, hour="25")
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    r = get(env, path, format="xml")
    assert r.status_code == 400 and r.json()["error"]["message"].startswith("format:")


# -- unknown query parameters -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        (
            counts("impression", STORE, sc.DAY),
            {"end": "2020-01-02"},
            "unknown query parameter 'end' (allowed: to, interval, hour, format)",
        ),
        (
            f"/v1/traffic/engadgment-counts/{STORE}/{sc.DAY}",
            {"Hour": "9"},
            "unknown query parameter 'Hour' (allowed: to, interval, hour, format)",
        ),
        (
            f"/v1/traffic/funnel/{STORE}/{sc.DAY}",
            {"from": "x", "until": "y"},
            "unknown query parameters 'from', 'until' (allowed: to, interval, hour, format)",
        ),
        (
            f"/v1/traffic/dwell/{LAB}/{sc.DAY}",
            {"percentile": "95"},
            "unknown query parameter 'percentile' (allowed: to, interval, hour, format)",
        ),
        ("/v1/locations", {"format": "csv"}, "unknown query parameter 'format' (allowed: info)"),
        (
            f"/v1/locations/last-update/{STORE}",
            {"info": "true"},
            "unknown query parameter 'info' (allowed: none)",
        ),
        ("/v1/devices", {"online": "true"}, "unknown query parameter 'online' (allowed: none)"),
    ],
)
def test_unknown_query_parameters_are_400(env, path, params, message):
    r = get(env, path, **params)
    assert r.status_code == 400
    assert r.json() == {"error": {"status": 400, "message": message}}
    # The key is checked first, and a location of another company stays a 404 only after
    # the parameters are known to be good.
    assert get(env, path, key=None, **params).status_code == 401


# -- devices -----------------------------------------------------------------------------------


def test_devices_shows_only_the_keys_company(env):
    got = ok(env, "/v1/devices")
    assert [d["device-id"] for d in got] == ["edge-acme-quiet", sc.DEVICE]
    quiet, busy = got
    assert quiet == {
        "device-id": "edge-acme-quiet",
        "online": False,
        "last-heartbeat": None,
        "version": None,
        "outbox-depth": None,
        "cameras": [],
    }
    assert busy["online"] is True and busy["outbox-depth"] == 3 and busy["version"] == "1.2.3"
    assert busy["cameras"] == [
        {
            "camera-id": "cam-entrance",
            "fps": 12.5,
            "connected": True,
            "last-frame": busy["cameras"][0]["last-frame"],
            "stalled": False,
        }
    ]
    assert busy["last-heartbeat"].endswith("Z")
    theirs = get(env, "/v1/devices", key=env["rival_key"]).json()
    assert [d["device-id"] for d in theirs] == ["edge-rival"]
    assert get(env, "/v1/devices", key="nope").status_code == 401


def test_other_company_cannot_read_the_new_endpoints(env):
    for path in (
        f"/v1/traffic/funnel/{STORE}/{sc.DAY}",
        f"/v1/traffic/dwell/{LAB}/2020-06-01",
        counts("impression", STORE, sc.DAY) + "?to=2020-01-31",
    ):
        r = get(env, path, key=env["rival_key"])
        assert r.status_code == 404 and r.json()["error"]["message"].startswith("unknown location")


def test_openapi_documents_the_additions(env):
    spec = env["client"].get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v1/traffic/funnel/{location}/{date}",
        "/v1/traffic/dwell/{location}/{date}",
        "/v1/devices",
    ):
        assert path in paths
    for path, item in paths.items():
        if path.startswith("/v1/traffic/"):
            names = {p["name"] for p in item["get"]["parameters"] if p["in"] == "query"}
            assert names == {"to", "interval", "hour", "format"}, path
            assert "text/csv" in item["get"]["responses"]["200"]["content"]
    schemas = spec["components"]["schemas"]
    assert {"discovery-rate", "engagement-rate", "interaction-rate"} <= set(
        schemas["FunnelItem"]["properties"]
    )
    assert {"visits", "mean-dwell-s", "median-dwell-s", "p90-dwell-s"} <= set(
        schemas["DwellItem"]["properties"]
    )
    assert "device-id" in schemas["DeviceHealth"]["properties"]
