"""The published API, end to end through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from central.admin import add_device, add_location, create_key
from central.api import create_app
from central.config import ApiSettings
from central.db import make_engine, migrate
from tests.central import scenario as sc
from tests.central.conftest import DB_KINDS, new_db_url

KINDS = ["impression", "discovery", "engagement", "interaction"]
PATHS = {
    "impression": "impression-counts",
    "discovery": "discovery-counts",
    "engagement": "engagement-counts",
    "interaction": "interaction-counts",
}


@pytest.fixture(scope="module", params=DB_KINDS)
def env(request, tmp_path_factory):
    url, pg = new_db_url(request.param, tmp_path_factory.mktemp("api"))
    engine = make_engine(url)
    migrate(engine)
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_location(engine, "madison-ave-store.denim", "acme", sc.TZ, "zone", sc.LOCATION)
    add_location(engine, "kolkata-store", "acme", "Asia/Kolkata")
    add_location(engine, "rival-store", "rival", "Europe/Paris")
    add_device(engine, sc.DEVICE, "acme")
    add_device(engine, "edge-rival", "rival")
    key, _ = create_key(engine, "acme")
    rival_key, _ = create_key(engine, "rival")
    sc.load(engine, sc.published_day())
    extra = [
        # 2020-01-03 03:30Z is 2020-01-02 22:30 in New York.
        sc.make_event("impression", datetime(2020, 1, 3, 3, 30, tzinfo=UTC), 90001),
        sc.make_event("discovery", datetime(2020, 1, 2, 14, 0, tzinfo=UTC), 90005),
        # DST spring-forward, 2020-03-08: 01:30 EST and 03:30 EDT (02:xx does not exist).
        sc.make_event("impression", datetime(2020, 3, 8, 6, 30, tzinfo=UTC), 90002),
        sc.make_event("impression", datetime(2020, 3, 8, 7, 30, tzinfo=UTC), 90003),
        # Kolkata is UTC+05:30: 00:00Z is 05:30 local.
        sc.make_event(
            "impression", datetime(2020, 1, 1, 0, 0, tzinfo=UTC), 90004, location="kolkata-store"
        ),
        sc.make_event(
            "discovery", datetime(2020, 1, 1, 0, 0, tzinfo=UTC), 90004, location="kolkata-store"
        ),
        sc.make_event(
            "impression", datetime(2020, 1, 1, 9, 0, tzinfo=UTC), 1, "rival-store", "edge-rival"
        ),
    ]
    sc.load(engine, extra)
    settings = ApiSettings(rate_per_s=10000, rate_burst=10000, auth_fail_limit=10000)
    client = TestClient(create_app(engine, settings))
    yield {"client": client, "key": key, "rival_key": rival_key, "engine": engine}
    client.close()
    engine.dispose()
    if pg:
        pg.drop()


def get(env, path: str, key: str | None = "default", **params):  # noqa: ANN001
    headers = {}
    if key == "default":
        key = env["key"]
    if key is not None:
        headers["Authorization"] = key
    return env["client"].get(path, headers=headers, params=params)


@pytest.mark.parametrize("kind", KINDS)
def test_published_example_is_reproduced_exactly(env, kind):
    r = get(env, f"/v1/traffic/{PATHS[kind]}/{sc.LOCATION}/{sc.DAY}")
    assert r.status_code == 200
    assert r.json() == sc.PUBLISHED[kind]
    # Same keys in the same order as the published JSON.
    assert r.text.replace(" ", "").startswith('[{"hr":9,"')


def test_misspelled_engagement_path_and_bearer(env):
    r = get(
        env,
        f"/v1/traffic/engadgment-counts/{sc.LOCATION}/{sc.DAY}",
        key=f"Bearer {env['key']}",
    )
    assert r.status_code == 200
    assert r.json() == sc.PUBLISHED["engagement"]


def test_hour_filter(env):
    r = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}", hour="12")
    assert r.json() == [{"hr": 12, "impressions": 300}]
    r = get(env, f"/v1/traffic/discovery-counts/{sc.LOCATION}/{sc.DAY}", hour="15")
    assert r.json() == [{"hr": 15, "discoveries": 0}]
    r = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}", hour="3")
    assert r.json() == []
    r = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}", hour="all")
    assert r.json() == sc.PUBLISHED["impression"]


@pytest.mark.parametrize("kind", KINDS)
def test_interval_15min(env, kind):
    r = get(env, f"/v1/traffic/{PATHS[kind]}/{sc.LOCATION}/{sc.DAY}", interval="15min")
    assert r.status_code == 200
    assert r.json() == sc.quarter_counts(kind)
    r = get(env, f"/v1/traffic/{PATHS[kind]}/{sc.LOCATION}/{sc.DAY}", interval="15min", hour="10")
    assert [(i["hr"], i["min"]) for i in r.json()] == [(10, 0), (10, 15), (10, 30), (10, 45)]


@pytest.mark.parametrize("kind", KINDS)
def test_interval_day(env, kind):
    r = get(env, f"/v1/traffic/{PATHS[kind]}/{sc.LOCATION}/{sc.DAY}", interval="day")
    total = sum(sc.COUNTS[kind])
    assert r.json() == [{"date": sc.DAY, sc.PLURAL[kind]: total}]


def test_funnel_holds_in_every_bucket(env):
    got = {
        k: get(env, f"/v1/traffic/{PATHS[k]}/{sc.LOCATION}/{sc.DAY}", interval="15min").json()
        for k in KINDS
    }
    for i, _ in enumerate(got["impression"]):
        imp, dis, eng = (got[k][i][sc.PLURAL[k]] for k in KINDS[:3])
        assert imp >= dis >= eng


def test_empty_day_is_empty_list(env):
    for kind in KINDS:
        r = get(env, f"/v1/traffic/{PATHS[kind]}/{sc.LOCATION}/2020-02-02")
        assert r.status_code == 200 and r.json() == []
        r = get(env, f"/v1/traffic/{PATHS[kind]}/{sc.LOCATION}/2020-02-02", interval="day")
        assert r.json() == []


def test_timezone_bucketing(env):
    # 2020-01-03T03:30Z is 22:30 on 2020-01-02 in New York, not on 2020-01-03.
    r = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/2020-01-02", hour="22")
    assert r.json() == [{"hr": 22, "impressions": 1}]
    r = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/2020-01-03")
    assert r.json() == []
    # The range runs from the first to the last bucket with any kind (a 09:00 discovery),
    # zero-filled in between.
    items = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/2020-01-02").json()
    assert [i["hr"] for i in items] == list(range(9, 23))
    assert sum(i["impressions"] for i in items) == 1 and items[0] == {"hr": 9, "impressions": 0}
    r = get(env, "/v1/traffic/impression-counts/kolkata-store/2020-01-01", interval="15min")
    assert r.json() == [{"hr": 5, "min": 30, "impressions": 1}]
    r = get(env, "/v1/traffic/discovery-counts/kolkata-store/2020-01-01")
    assert r.json() == [{"hr": 5, "discoveries": 1}]


def test_dst_day_has_no_missing_hour_bucket(env):
    r = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/2020-03-08")
    assert r.json() == [{"hr": 1, "impressions": 1}, {"hr": 3, "impressions": 1}]


def test_zone_counts_are_separate_from_the_store(env):
    r = get(env, "/v1/traffic/impression-counts/madison-ave-store.denim/2020-01-01")
    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize(
    ("date", "params", "needle"),
    [
        ("2020-13-01", {}, "date"),
        ("2020-1-1", {}, "date"),
        ("yesterday", {}, "date"),
        ("2020-02-30", {}, "date"),
        ("0000-01-01", {}, "date"),
        ("9999-12-31", {}, "date"),
        ("2020-01-01", {"interval": "week"}, "interval"),
        ("2020-01-01", {"interval": ""}, "interval"),
        ("2020-01-01", {"hour": "24"}, "hour"),
        ("2020-01-01", {"hour": "-1"}, "hour"),
        ("2020-01-01", {"hour": "noon"}, "hour"),
        ("2020-01-01", {"hour": "\u00b2"}, "hour"),  # str.isdigit() is True for it
        ("\uff12\uff10\uff12\uff10-01-01", {}, "date"),  # full-width digits
    ],
)
def test_bad_input_is_400_in_the_error_shape(env, date, params, needle):
    r = get(env, f"/v1/traffic/impression-counts/{sc.LOCATION}/{date}", **params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["error"]["status"] == 400
    assert needle in body["error"]["message"]


def test_info_must_be_boolean(env):
    r = get(env, "/v1/locations", info="maybe")
    assert r.status_code == 400 and r.json()["error"]["status"] == 400


@pytest.mark.parametrize("key", [None, "", "nope", "Bearer nope", "Bearer "])
def test_missing_or_unknown_key_is_401(env, key):
    for path in (
        f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}",
        f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}?interval=week",  # 401 first
        "/v1/traffic/impression-counts/rival-store/2020-13-01",
        "/v1/locations",
    ):
        r = get(env, path, key=key)
        assert r.status_code == 401
        assert r.json()["error"]["status"] == 401
        assert r.json()["error"]["message"].startswith("missing or unknown API key")


def test_other_company_location_is_404_like_a_missing_one(env):
    theirs = get(env, "/v1/traffic/impression-counts/rival-store/2020-01-01")
    missing = get(env, "/v1/traffic/impression-counts/no-such-store/2020-01-01")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["message"] == "unknown location 'rival-store'"
    assert get(env, "/v1/locations/last-update/rival-store").status_code == 404
    ok = get(env, "/v1/traffic/impression-counts/rival-store/2020-01-01", key=env["rival_key"])
    assert ok.json() == [{"hr": 10, "impressions": 1}]


def test_non_slug_location_is_404(env):
    r = get(env, "/v1/traffic/impression-counts/Not%20A%20Slug/2020-01-01")
    assert r.status_code == 404


def test_locations(env):
    r = get(env, "/v1/locations")
    assert r.json() == [
        {"location-name": "kolkata-store"},
        {"location-name": "madison-ave-store"},
        {"location-name": "madison-ave-store.denim"},
    ]
    info = {i["location-name"]: i for i in get(env, "/v1/locations", info="true").json()}
    assert info["madison-ave-store"] == {
        "location-name": "madison-ave-store",
        "company": "acme",
        "parent": None,
        "children": ["madison-ave-store.denim"],
        "type": "store",
        "timezone": "America/New_York",
    }
    assert info["madison-ave-store.denim"]["parent"] == "madison-ave-store"
    assert info["madison-ave-store.denim"]["type"] == "zone"
    assert get(env, "/v1/locations", key=env["rival_key"]).json() == [
        {"location-name": "rival-store"}
    ]


def test_last_update(env):
    r = get(env, f"/v1/locations/last-update/{sc.LOCATION}")
    # Latest occurred_at: the DST-day event at 07:30Z + 0.6 s.
    assert r.json() == [{"last-update": "2020-03-08T07:30:00Z"}]
    assert get(env, "/v1/locations/last-update/madison-ave-store.denim").json() == []


def test_unknown_route_and_method_use_the_error_shape(env):
    r = get(env, "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["status"] == 404
    r = env["client"].post("/v1/locations", headers={"Authorization": env["key"]})
    assert r.status_code == 405 and r.json()["error"]["status"] == 405


def test_openapi_and_docs(env):
    spec = env["client"].get("/openapi.json").json()
    paths = spec["paths"]
    assert "/v1/traffic/engadgment-counts/{location}/{date}" in paths
    assert "/v1/locations/last-update/{location}" in paths
    for item in paths.values():
        assert "422" not in item["get"]["responses"]
        assert "400" in item["get"]["responses"]
    assert env["client"].get("/docs").status_code == 200


def test_rate_limit_answers_429(env):
    app = create_app(env["engine"], ApiSettings(rate_per_s=0.01, rate_burst=3))
    with TestClient(app) as c:
        codes = [
            c.get("/v1/locations", headers={"Authorization": env["key"]}).status_code
            for _ in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]
        r = c.get("/v1/locations", headers={"Authorization": env["key"]})
        assert r.json()["error"]["status"] == 429
        assert int(r.headers["retry-after"]) >= 1
        # Another key has its own bucket.
        assert (
            c.get("/v1/locations", headers={"Authorization": env["rival_key"]}).status_code == 200
        )


def test_store_unavailable_is_503():
    engine = make_engine("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with TestClient(create_app(engine)) as c:
        r = c.get("/v1/locations", headers={"Authorization": "some-key"})
    assert r.status_code == 503
    assert r.json() == {"error": {"status": 503, "message": "store unavailable, try again later"}}
