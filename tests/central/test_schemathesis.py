"""Property-based requests generated from the app's own OpenAPI: no input may cause a 5xx."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from central.admin import add_device, add_location, create_key
from central.api import create_app
from central.config import ApiSettings
from central.db import make_engine, migrate
from central.store import Ingestor, Message, dump_json
from exteros.contract import CameraHealth, Heartbeat, now_utc, topic
from tests.central import scenario as sc


def _app(tmp_dir: str):
    engine = make_engine(f"sqlite:///{tmp_dir}/schemathesis.db")
    migrate(engine)
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_device(engine, sc.DEVICE, "acme")
    key, _ = create_key(engine, "acme")
    # The first ~250 visits of the published day: events and visit summaries (for dwell).
    day = sc.published_day()[:700]
    res = Ingestor(engine).process(
        [
            Message(
                topic(sc.DEVICE, "events" if m.schema_ == "exteros.event/1" else "visits"),
                dump_json(m.to_payload()),
            )
            for m in day
        ]
    )
    assert res.dead == 0, res.reasons
    beat = Heartbeat(
        at=now_utc(),
        uptime_s=5.0,
        locations=[sc.LOCATION],
        cameras={sc.CAMERA: CameraHealth(fps=10.0, connected=True, last_frame_at=now_utc())},
    )
    res = Ingestor(engine).process(
        [Message(topic(sc.DEVICE, "heartbeat"), dump_json(beat.to_payload()))]
    )
    assert res.dead == 0, res.reasons
    settings = ApiSettings(rate_per_s=1e6, rate_burst=10**6, auth_fail_limit=10**6)
    return create_app(engine, settings), key


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory):
    return _app(str(tmp_path_factory.mktemp("st")))


def test_no_input_causes_a_server_error(app_and_key):
    app, key = app_and_key
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert {op.path for op in operations} == {
        "/v1/traffic/impression-counts/{location}/{date}",
        "/v1/traffic/discovery-counts/{location}/{date}",
        "/v1/traffic/engagement-counts/{location}/{date}",
        "/v1/traffic/engadgment-counts/{location}/{date}",
        "/v1/traffic/interaction-counts/{location}/{date}",
        "/v1/traffic/funnel/{location}/{date}",
        "/v1/traffic/dwell/{location}/{date}",
        "/v1/locations",
        "/v1/locations/last-update/{location}",
        "/v1/devices",
    }

    for op, mode in itertools.product(operations, list(GenerationMode)):

        @given(case=op.as_strategy(generation_mode=mode), with_key=st.booleans())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case, with_key):  # noqa: ANN001
            if with_key:  # so generated inputs reach the handlers, not only the 401
                case.headers = {**(case.headers or {}), "Authorization": key}
            case.call_and_validate(checks=[not_a_server_error])

        run()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    endpoint=st.sampled_from(["impression-counts", "engadgment-counts", "funnel", "dwell"]),
    first=st.dates(min_value=date(1900, 1, 1), max_value=date(9999, 12, 31)),
    days=st.integers(min_value=-3, max_value=400),
    interval=st.sampled_from(["hour", "15min", "day"]),
    hour=st.sampled_from(["all", "0", "1", "2", "9", "23"]),
    fmt=st.sampled_from(["json", "csv"]),
)
def test_real_date_ranges_never_cause_a_server_error(
    app_and_key, endpoint, first, days, interval, hour, fmt
):
    """Schemathesis rarely makes two real days; ranges of every length, DST days and the
    ends of the calendar answer 200 or a 400, never a 5xx."""
    app, key = app_and_key
    try:
        last = first + timedelta(days=days)
    except OverflowError:
        last = date(9999, 12, 31)
    with TestClient(app) as c:
        r = c.get(
            f"/v1/traffic/{endpoint}/{sc.LOCATION}/{first}",
            params={"to": str(last), "interval": interval, "hour": hour, "format": fmt},
            headers={"Authorization": key},
        )
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["error"]["message"]
