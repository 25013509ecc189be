"""The Python client against a real ``exteros-central serve`` (uvicorn) on a free port.

The store is the one every client suite uses (clients/testdata/fixture.py: locations and
the published example day added with the CLI), and the shared table of requests and
answers (clients/testdata/published_examples.json) is run through this client too.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

import exteros
from central.admin import add_device
from central.db import make_engine
from central.store import Ingestor, Message, dump_json
from exteros.contract import CameraHealth, Heartbeat, now_utc, topic
from tests.central import scenario as sc
from tests.clients.shared import CASES, Server, compact, prepare, raw_get, serve
from tests.support.broker import free_port


def add_devices(db: str) -> None:
    """Two devices of the store's company (acme), one of them heartbeating now."""
    engine = make_engine(db)
    add_device(engine, sc.DEVICE, "acme")
    add_device(engine, "edge-spare", "acme")
    now = now_utc().replace(microsecond=0)
    beat = Heartbeat(
        at=now,
        uptime_s=60.0,
        locations=[],  # covering the store would move its last-update (the shared table's)
        cameras={sc.CAMERA: CameraHealth(fps=9.5, connected=True, last_frame_at=now)},
        outbox_depth=2,
        version="0.1.0",
    )
    res = Ingestor(engine).process(
        [Message(topic(sc.DEVICE, "heartbeat"), dump_json(beat.to_payload()))]
    )
    assert res.dead == 0, res.reasons
    engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("client")
    store = prepare(workdir)
    add_devices(store.db)
    with serve(store, workdir / "serve.log") as srv:
        yield srv.base_url, srv.key


@pytest.fixture
def api(server):
    base, key = server
    with exteros.authorize(key, base_url=base) as client:
        yield client


def as_json(counts, kind):  # noqa: ANN001
    return [{"hr": c.hr, sc.PLURAL[kind]: c.count} for c in counts]


def test_each_count_method_returns_the_published_example(api):
    assert (
        as_json(api.impression_counts(sc.LOCATION, sc.DAY), "impression")
        == sc.PUBLISHED["impression"]
    )
    assert (
        as_json(api.discovery_counts(sc.LOCATION, date(2020, 1, 1)), "discovery")
        == (sc.PUBLISHED["discovery"])
    )
    assert (
        as_json(api.engagement_counts(sc.LOCATION, sc.DAY), "engagement")
        == sc.PUBLISHED["engagement"]
    )
    assert (
        as_json(api.interaction_counts(sc.LOCATION, sc.DAY), "interaction")
        == sc.PUBLISHED["interaction"]
    )


def test_query_parameters(api):
    assert api.impression_counts(sc.LOCATION, sc.DAY, hour=12) == [
        exteros.Count(kind="impression", count=300, hr=12)
    ]
    quarters = api.discovery_counts(sc.LOCATION, sc.DAY, interval="15min", hour=9)
    assert [(c.hr, c.min) for c in quarters] == [(9, 0), (9, 15), (9, 30), (9, 45)]
    assert sum(c.count for c in quarters) == 50
    (day,) = api.impression_counts(sc.LOCATION, sc.DAY, interval="day")
    assert day.date == date(2020, 1, 1) and day.count == 1300 and day.hr is None
    assert api.impression_counts(sc.LOCATION, "2020-06-01") == []


def test_date_ranges(api):
    days = api.impression_counts(sc.LOCATION, sc.DAY, to="2020-01-03", interval="day")
    assert days == [
        exteros.Count(kind="impression", count=1300, date=date(2020, 1, 1)),
        exteros.Count(kind="impression", count=0, date=date(2020, 1, 2)),
        exteros.Count(kind="impression", count=0, date=date(2020, 1, 3)),
    ]
    hours = api.discovery_counts(sc.LOCATION, date(2020, 1, 1), to=date(2020, 1, 1))
    assert {c.date for c in hours} == {date(2020, 1, 1)}
    assert [(c.hr, c.count) for c in hours] == list(
        zip(sc.HOURS, sc.COUNTS["discovery"], strict=True)
    )
    quarters = api.engagement_counts(sc.LOCATION, sc.DAY, to=sc.DAY, interval="15min", hour=10)
    assert [(c.date, c.hr, c.min) for c in quarters][0] == (date(2020, 1, 1), 10, 0)
    assert sum(c.count for c in api.interaction_counts(sc.LOCATION, sc.DAY, to="2020-12-31")) == 400


def test_funnel(api):
    hours = api.funnel(sc.LOCATION, sc.DAY)
    assert hours[1] == exteros.FunnelBucket(
        date=date(2020, 1, 1),
        hr=10,
        impressions=200,
        discoveries=150,
        engagements=100,
        interactions=50,
        discovery_rate=0.75,
        engagement_rate=0.5,
        interaction_rate=0.25,
    )
    (day,) = api.funnel(sc.LOCATION, sc.DAY, interval="day")
    assert (day.hr, day.impressions, day.discovery_rate, day.interaction_rate) == (
        None,
        1300,
        0.7308,
        0.3077,
    )
    quiet = api.funnel(sc.LOCATION, "2020-01-02", to="2020-01-02", interval="day")
    assert quiet == [
        exteros.FunnelBucket(date(2020, 1, 2), 0, 0, 0, 0, None, None, None, hr=None, min=None)
    ]


def test_dwell(api):
    quarters = api.dwell(sc.LOCATION, sc.DAY, interval="15min", hour=9)
    assert [(q.hr, q.min, q.visits) for q in quarters] == [(9, m, 25) for m in (0, 15, 30, 45)]
    # every visit of the published day lasted 12 s
    assert quarters[0] == exteros.DwellBucket(
        date=date(2020, 1, 1),
        hr=9,
        min=0,
        visits=25,
        mean_dwell_s=12.0,
        median_dwell_s=12.0,
        p90_dwell_s=12.0,
    )
    days = api.dwell(sc.LOCATION, "2019-12-31", to=sc.DAY, interval="day")
    assert [(d.date, d.visits, d.p90_dwell_s) for d in days] == [
        (date(2019, 12, 31), 0, None),
        (date(2020, 1, 1), 1300, 12.0),
    ]


def test_devices(api):
    devices = api.devices()
    assert [d.device_id for d in devices] == [sc.DEVICE, "edge-spare"]
    live, spare = devices
    assert live.online and live.version == "0.1.0" and live.outbox_depth == 2
    assert live.last_heartbeat is not None and live.last_heartbeat.tzinfo is not None
    (cam,) = live.cameras
    assert (cam.camera_id, cam.fps, cam.connected, cam.stalled) == (sc.CAMERA, 9.5, True, False)
    assert cam.last_frame == live.last_heartbeat
    assert spare == exteros.Device(
        device_id="edge-spare",
        online=False,
        last_heartbeat=None,
        version=None,
        outbox_depth=None,
        cameras=[],
    )


def test_locations_and_last_update(api):
    assert [loc.name for loc in api.locations()] == [sc.LOCATION, "madison-ave-store.denim"]
    store = api.locations(info=True)[0]
    assert store == exteros.Location(
        name=sc.LOCATION,
        company="acme",
        parent=None,
        children=["madison-ave-store.denim"],
        type="store",
        timezone=sc.TZ,
    )
    last = api.last_update(sc.LOCATION)
    assert last is not None and last.tzinfo is not None
    assert datetime(2020, 1, 1, 20, 0, tzinfo=UTC) < last < datetime(2020, 1, 1, 21, 0, tzinfo=UTC)
    assert api.last_update("madison-ave-store.denim") is None


@pytest.mark.parametrize(
    ("call", "status", "needle"),
    [
        (lambda a: a.impression_counts(sc.LOCATION, "2020-13-01"), 400, "date"),
        (lambda a: a.impression_counts(sc.LOCATION, sc.DAY, interval="week"), 400, "interval"),
        (lambda a: a.impression_counts(sc.LOCATION, sc.DAY, hour=24), 400, "hour"),
        (lambda a: a.impression_counts("rival-store", sc.DAY), 404, "unknown location"),
        (lambda a: a.last_update("no-such-place"), 404, "unknown location"),
        (lambda a: a.funnel(sc.LOCATION, sc.DAY, to="2019-12-31"), 400, "is before date"),
        (lambda a: a.dwell(sc.LOCATION, "2020-01-01", to="2021-01-01"), 400, "at most 366"),
        (lambda a: a.impression_counts(sc.LOCATION, sc.DAY, to="someday"), 400, "to must be"),
        (lambda a: a.dwell("rival-store", sc.DAY), 404, "unknown location"),
    ],
)
def test_errors_carry_the_api_message(api, call, status, needle):
    with pytest.raises(exteros.ExterosError) as err:
        call(api)
    assert err.value.status == status
    assert needle in err.value.message


def test_unknown_key_and_unreachable_server(server):
    base, _ = server
    with exteros.authorize("wrong", base_url=base) as bad, pytest.raises(exteros.ExterosError) as e:
        bad.locations()
    assert e.value.status == 401
    nowhere = exteros.authorize("k", base_url=f"http://127.0.0.1:{free_port()}")
    with nowhere, pytest.raises(exteros.ExterosError) as e:
        nowhere.locations()
    assert e.value.status == 0
    with pytest.raises(ValueError):
        exteros.authorize("")


def api_json(call: str, result: object) -> object:
    """The Python client's typed result written back as the API's JSON."""
    if call.endswith("_counts"):
        plural = sc.PLURAL[call.removesuffix("_counts")]
        out = []
        for c in result:
            if c.date is not None:
                out.append({"date": c.date.isoformat(), plural: c.count})
            elif c.min is not None:
                out.append({"hr": c.hr, "min": c.min, plural: c.count})
            else:
                out.append({"hr": c.hr, plural: c.count})
        return out
    if call == "locations":
        return [
            {"location-name": loc.name}
            if loc.company is None
            else {
                "location-name": loc.name,
                "company": loc.company,
                "parent": loc.parent,
                "children": loc.children,
                "type": loc.type,
                "timezone": loc.timezone,
            }
            for loc in result
        ]
    if call == "last_update":
        return [] if result is None else [{"last-update": result.strftime("%Y-%m-%dT%H:%M:%SZ")}]
    raise AssertionError(f"no mapping for {call}")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_table(server, case):
    base, key = server
    status, raw = raw_get(Server(base, key), case)
    assert (status, raw) == (case["status"], compact(case["body"]))
    with exteros.authorize(case.get("key", key), base_url=base) as api:
        call = getattr(api, case["call"])
        if case["status"] < 400:
            got = api_json(case["call"], call(*case["args"], **case["options"]))
            assert got == case["body"]
            assert compact(got) == raw, json.dumps(got)
        else:
            with pytest.raises(exteros.ExterosError) as err:
                call(*case["args"], **case["options"])
            assert err.value.status == case["status"]
            assert err.value.message == case["body"]["error"]["message"]
