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
from tests.central import scenario as sc
from tests.clients.shared import CASES, Server, compact, prepare, raw_get, serve
from tests.support.broker import free_port


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("client")
    store = prepare(workdir)
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
