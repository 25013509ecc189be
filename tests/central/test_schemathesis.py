"""Property-based requests generated from the app's own OpenAPI: no input may cause a 5xx."""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from central.admin import add_device, add_location, create_key
from central.api import create_app
from central.config import ApiSettings
from central.db import make_engine, migrate
from central.store import Ingestor, Message, dump_json
from exteros.contract import topic
from tests.central import scenario as sc


def _app(tmp_dir: str):
    engine = make_engine(f"sqlite:///{tmp_dir}/schemathesis.db")
    migrate(engine)
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_device(engine, sc.DEVICE, "acme")
    key, _ = create_key(engine, "acme")
    day = [m for m in sc.published_day() if m.schema_ == "exteros.event/1"][:300]
    Ingestor(engine).process(
        [Message(topic(sc.DEVICE, "events"), dump_json(m.to_payload())) for m in day]
    )
    settings = ApiSettings(rate_per_s=1e6, rate_burst=10**6, auth_fail_limit=10**6)
    return create_app(engine, settings), key


@pytest.fixture(scope="module")
def app_and_key(tmp_path_factory):
    return _app(str(tmp_path_factory.mktemp("st")))


def test_no_input_causes_a_server_error(app_and_key):
    app, key = app_and_key
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) == 7

    for op, mode in itertools.product(operations, list(GenerationMode)):

        @given(case=op.as_strategy(generation_mode=mode), with_key=st.booleans())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case, with_key):  # noqa: ANN001
            if with_key:  # so generated inputs reach the handlers, not only the 401
                case.headers = {**(case.headers or {}), "Authorization": key}
            case.call_and_validate(checks=[not_a_server_error])

        run()
