"""The Python client against a real ``exteros-central serve`` (uvicorn) on a free port."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

import exteros
from central.admin import add_device, add_location, create_key
from central.db import make_engine, migrate
from central.store import Ingestor, Message, dump_json
from exteros.contract import topic
from tests.central import scenario as sc
from tests.support.broker import free_port, wait_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('client')}/client.db"
    engine = make_engine(db)
    migrate(engine)
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_location(engine, "madison-ave-store.denim", "acme", sc.TZ, "zone", sc.LOCATION)
    add_location(engine, "rival-store", "rival", "UTC")
    add_device(engine, sc.DEVICE, "acme")
    key, _ = create_key(engine, "acme")
    msgs = []
    for m in sc.published_day():
        kind = "events" if m.schema_ == "exteros.event/1" else "visits"
        msgs.append(Message(topic(m.device_id, kind), dump_json(m.to_payload())))
    assert Ingestor(engine).process(msgs).dead == 0
    engine.dispose()
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "central",
            "--db",
            db,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port, 30)
        yield f"http://127.0.0.1:{port}", key
    finally:
        proc.terminate()
        proc.wait(10)


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
