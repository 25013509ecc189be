"""End to end: edge replay of a scenario -> real Mosquitto -> ingest -> REST API counts."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from edge.scenarios import generate, load_truth
from tests.support.chain import central, replay_into, running_central, wait_for_totals

pytestmark = pytest.mark.model


def test_replay_through_broker_and_ingest_reaches_the_api(tmp_path, broker):
    files = generate("two_zones", Path(os.environ.get("EXTEROS_SCENARIO_CACHE", tmp_path)))
    truth = load_truth(files.truth)
    db = f"sqlite:///{tmp_path / 'central.db'}"
    central(db, "migrate")
    central(db, "companies", "add", "madison", "--timezone", "America/New_York")
    for loc in truth["expected_counts"]:
        central(db, "locations", "add", loc, "--company", "madison",
                "--timezone", "America/New_York")  # fmt: skip
    central(db, "devices", "add", truth["device_id"], "--company", "madison")
    key = central(db, "keys", "create", "--company", "madison").strip().splitlines()[-1]

    with running_central(db, broker.port) as base:
        replay_into(files.video, files.config, broker.port, tmp_path)
        expected = truth["expected_counts"]
        got = wait_for_totals(base, key, expected, "2020-01-01", expected)
        assert got == expected
        # local hour: 15:00Z is 10:00 in New York; the visits start in that hour
        r = httpx.get(f"{base}/v1/traffic/impression-counts/{next(iter(got))}/2020-01-01",
                      headers={"Authorization": key})  # fmt: skip
        assert r.json()[0]["hr"] == 10
