"""The shared client test table is what the real server answers, and holds the published examples.

Every client suite (tests/exteros, clients/js, clients/ruby) reads
clients/testdata/published_examples.json; this checks the table itself against a real
``exteros-central serve`` over plain HTTP, as curl sees it.
"""

from __future__ import annotations

import json

import pytest

from tests.central import scenario as sc
from tests.clients.shared import CASES, TABLE, TESTDATA, compact, prepare, raw_get, serve


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("table")
    with serve(prepare(workdir), workdir / "serve.log") as srv:
        yield srv


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_server_answers_the_table(server, case):
    status, body = raw_get(server, case)
    assert (status, body) == (case["status"], compact(case["body"]))


def test_published_examples_are_in_the_table():
    by_path = {(c["path"], c["query"]): c["body"] for c in CASES}
    for kind, plural_path in [
        ("impression", "impression-counts"),
        ("discovery", "discovery-counts"),
        ("engagement", "engagement-counts"),
        ("interaction", "interaction-counts"),
    ]:
        path = f"/v1/traffic/{plural_path}/{sc.LOCATION}/{sc.DAY}"
        assert by_path[(path, "")] == sc.PUBLISHED[kind]


def test_table_cases_are_well_formed():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names))
    calls = {"impression_counts", "discovery_counts", "engagement_counts", "interaction_counts"}
    calls |= {"locations", "last_update"}
    for case in CASES:
        assert case["call"] in calls, case["name"]
        assert set(case["options"]) <= {"hour", "interval", "info"}, case["name"]
        if case["status"] >= 400:
            assert case["body"]["error"]["status"] == case["status"], case["name"]
    assert {loc["name"] for loc in TABLE["setup"]["locations"]} >= {sc.LOCATION}


def test_fixture_writes_the_scenario_day(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fixture", TESTDATA / "fixture.py")
    fixture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixture)
    n = fixture.write_events(tmp_path / "events.jsonl")
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert n == len(lines) == len(sc.published_day())
    kinds = [json.loads(line).get("kind") for line in lines]
    assert kinds.count("impression") == sum(sc.COUNTS["impression"])
