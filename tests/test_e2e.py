"""End to end: edge replay of a scenario -> real Mosquitto -> ingest -> REST API counts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from edge.scenarios import generate, load_truth
from tests.support.broker import free_port, wait_port

pytestmark = pytest.mark.model

KIND_FIELD = {"impression": "impressions", "discovery": "discoveries",
              "engagement": "engagements", "interaction": "interactions"}  # fmt: skip


def central(db: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "central", "--db", db, *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def api_totals(base: str, key: str, location: str, date: str) -> dict[str, int]:
    totals = {}
    for kind, field in KIND_FIELD.items():
        r = httpx.get(f"{base}/v1/traffic/{kind}-counts/{location}/{date}",
                      headers={"Authorization": key}, timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        totals[kind] = sum(item[field] for item in r.json())
    return totals


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

    port = free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "central", "--db", db, "ingest",
                          "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker.port)]),
        subprocess.Popen([sys.executable, "-m", "central", "--db", db, "serve",
                          "--host", "127.0.0.1", "--port", str(port)]),
    ]  # fmt: skip
    try:
        wait_port(port, 30)
        env = {**os.environ, "EXTEROS_MQTT__PORT": str(broker.port),
               "EXTEROS_STATE_DIR": str(tmp_path / "state")}  # fmt: skip
        proc = subprocess.run(
            [sys.executable, "-m", "edge.cli", "replay", str(files.video), "--config",
             str(files.config), "--start", "2020-01-01T15:00:00Z", "--events-out",
             str(tmp_path / "events.jsonl"), "--quiet", "--drain-timeout", "60"],
            capture_output=True, text=True, timeout=900, env=env,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            got = {loc: api_totals(base, key, loc, "2020-01-01")
                   for loc in truth["expected_counts"]}  # fmt: skip
            if got == truth["expected_counts"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert got == truth["expected_counts"]
        # local hour: 15:00Z is 10:00 in New York; the visits start in that hour
        r = httpx.get(f"{base}/v1/traffic/impression-counts/{next(iter(got))}/2020-01-01",
                      headers={"Authorization": key})  # fmt: skip
        assert r.json()[0]["hr"] == 10
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
