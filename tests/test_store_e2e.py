"""Store-level counts end to end: the real model on a scenario video where ONE person visits
two zones of one camera -> real Mosquitto -> ingest -> REST API.

The published example asks for the store (``/v1/traffic/impression-counts/
madison-ave-store/2020-01-01``): with ``store: madison-ave-store`` on the camera it
answers one visit, next to one visit per zone, as the scenario's ground truth says.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import yaml

from edge.scenarios import generate, load_truth
from edge.scenarios.library import STORE, TABLE, WINDOW
from tests.support.chain import central, replay_into, running_central, wait_for_totals

pytestmark = pytest.mark.model

DAY = "2020-01-01"


def test_one_person_in_two_zones_is_one_store_visit_in_the_api(tmp_path, broker):
    files = generate("table_window", Path(os.environ.get("EXTEROS_SCENARIO_CACHE", tmp_path)))
    truth = load_truth(files.truth)
    assert yaml.safe_load(files.config.read_text())["cameras"][0]["store"] == STORE
    expected = truth["expected_counts"]
    one = {"impression": 1, "discovery": 1, "engagement": 0, "interaction": 0}
    assert expected == {TABLE: one, WINDOW: one, STORE: {**one, "engagement": 1}}

    db = f"sqlite:///{tmp_path / 'central.db'}"
    central(db, "migrate")
    central(db, "locations", "add", STORE, "--company", "madison",
            "--timezone", "America/New_York")  # fmt: skip
    for zone in (TABLE, WINDOW):
        central(db, "locations", "add", zone, "--company", "madison", "--timezone",
                "America/New_York", "--type", "zone", "--parent", STORE)  # fmt: skip
    central(db, "devices", "add", truth["device_id"], "--company", "madison")
    key = central(db, "keys", "create", "--company", "madison").strip().splitlines()[-1]

    with running_central(db, broker.port) as base:
        replay_into(files.video, files.config, broker.port, tmp_path)
        got = wait_for_totals(base, key, expected, DAY, expected)
        # one store visit, not one per zone; and the engagement no single zone reached
        assert got == expected
        # the store's visit starts at 15:00:02.8Z, local hour 10 in New York
        r = httpx.get(f"{base}/v1/traffic/impression-counts/{STORE}/{DAY}",
                      headers={"Authorization": key})  # fmt: skip
        assert r.json() == [{"hr": 10, "impressions": 1}]
        info = httpx.get(f"{base}/v1/locations", params={"info": "true"},
                         headers={"Authorization": key}).json()  # fmt: skip
        store = next(item for item in info if item["location-name"] == STORE)
        assert (store["type"], sorted(store["children"])) == ("store", [TABLE, WINDOW])
