"""The issue-14 attacks as they were reproduced: real Mosquitto, the real CLI, a real worker.

A rival company's registered device publishes, on its own topics, everything it
can think of against company acme; then acme's own device publishes its real
events. acme's counts through the API are exactly its own events, and every bad
message is a dead letter with its reason.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from central.api import create_app
from central.db import make_engine
from central.models import DeadLetter, Location
from central.store import dump_json
from exteros.contract import topic
from tests.central import scenario as sc
from tests.support.central import ProcWorker, counts, publish_all, wait_for

RIVAL = "edge-rival"
T0 = datetime(2020, 1, 1, 14, 0, tzinfo=UTC)


def central(db: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "central", "--db", db, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(db: str, *args: str) -> str:
    r = central(db, *args)
    assert r.returncode == 0, r.stderr
    return r.stdout


def event(seq: int, **override) -> dict:  # noqa: ANN003
    p = sc.make_event("impression", T0 + timedelta(seconds=seq), seq).to_payload()
    p.update(override)
    return p


def as_rival(p: dict) -> dict:
    """The same payload, sent honestly as the rival device (own ids, own device_id)."""
    return {
        **p,
        "device_id": RIVAL,
        "event_id": p["event_id"].replace(sc.DEVICE, RIVAL, 1),
        "visit_id": p["visit_id"].replace(sc.DEVICE, RIVAL, 1),
    }


def test_attacks_through_the_broker_leave_the_victims_counts_alone(tmp_path, mosq):  # noqa: F811
    db = f"sqlite:///{tmp_path / 'central.db'}"
    ok(db, "companies", "add", "acme", "--timezone", sc.TZ)
    ok(db, "locations", "add", sc.LOCATION, "--company", "acme", "--timezone", sc.TZ)
    ok(db, "devices", "add", sc.DEVICE, "--company", "acme")
    ok(db, "locations", "add", "rival-store", "--company", "rival", "--timezone", "UTC")
    ok(db, "devices", "add", RIVAL, "--company", "rival")
    key = ok(db, "keys", "create", "--company", "acme").strip().splitlines()[-1]
    # Names with a trailing newline are refused by every admin command, in one line.
    for args in (
        ("companies", "add", "acme-store\n"),
        ("locations", "add", "acme-store\n", "--company", "acme", "--timezone", "UTC"),
        ("devices", "add", "edge-x\n", "--company", "acme"),
        ("locations", "add", "fine", "--company", "acme\n", "--timezone", "UTC"),
    ):
        r = central(db, *args)
        assert r.returncode == 1 and "is not a slug" in r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr

    rival_ev, rival_hb = topic(RIVAL, "events"), topic(RIVAL, "heartbeat")
    mine = topic(sc.DEVICE, "events")
    future = "9999-12-31T23:59:59.000Z"
    attacks: list[tuple[str, dict, str]] = [
        # (topic, payload, expected reason)
        (rival_ev, {**event(1), "device_id": RIVAL, "location": "rival-store"},
         "does not belong to device 'edge-rival'"),
        (rival_ev, event(2), "does not match the topic's device"),
        (rival_ev, as_rival(event(3, location="main-st")), "unknown location 'main-st'"),
        (rival_ev, as_rival(event(4)), f"location {sc.LOCATION!r} belongs to another company"),
        (rival_hb, {"at": "2020-01-01T15:00:00.000Z", "uptime_s": 1.0,
                    "locations": [f"store-{i:03d}" for i in range(300)]},
         "heartbeat names 300 location(s)"),
        (rival_ev, as_rival(event(5, location="rival-store\n")), "location"),
        (mine, event(6, occurred_at=future), "timestamp in the future"),
        (mine, event(7, dwell_s="3"), "dwell_s: Input should be a valid number"),
        (mine, event(8, confidence=True), "confidence: Input should be a valid number"),
        (mine, event(9, visit_started_at="2020-01-01T15:00:00.000Z"),
         "visit_started_at is after occurred_at"),
        (topic(sc.DEVICE, "heartbeat"),
         {"at": future, "uptime_s": 1.0, "locations": [sc.LOCATION]}, "timestamp in the future"),
    ]  # fmt: skip
    real = [event(i) for i in range(20, 30)]
    conflicting = {**real[0], "confidence": 0.1}

    engine = make_engine(db)
    worker = ProcWorker(db, mosq.port, "ingest-attacks", tmp_path / "worker.log")
    try:
        worker.wait_connected()
        time.sleep(0.5)  # the SUBACK
        publish_all(mosq.port, [(t, dump_json(p)) for t, p, _r in attacks])
        publish_all(mosq.port, [(mine, dump_json(p)) for p in real])
        publish_all(mosq.port, [(mine, dump_json(conflicting)), (mine, dump_json(real[1]))])
        n_dead = len(attacks) + 1
        wait_for(lambda: counts(engine) == (len(real), n_dead), 60, "every message handled")
    finally:
        worker.stop()
    with engine.connect() as c:
        rows = c.execute(select(DeadLetter.topic, DeadLetter.reason).order_by(DeadLetter.id))
        reasons = [r.reason for r in rows]
        names = set(c.execute(select(Location.name)).scalars())
    for _t, _p, expected in attacks:
        assert any(expected in r for r in reasons), (expected, reasons)
    assert any(r.startswith("conflicting duplicate: event_id") for r in reasons)
    assert names == {sc.LOCATION, "rival-store"}  # nothing squatted

    client = TestClient(create_app(engine))
    auth = {"Authorization": key}
    r = client.get(f"/v1/traffic/impression-counts/{sc.LOCATION}/{sc.DAY}", headers=auth)
    assert r.json() == [{"hr": 9, "impressions": len(real)}]
    r = client.get(f"/v1/locations/last-update/{sc.LOCATION}", headers=auth)
    assert r.json() == [{"last-update": "2020-01-01T14:00:29Z"}]  # the latest real event

    # The rightful owner can still add the name the rival tried to take.
    ok(db, "locations", "add", "main-st", "--company", "acme", "--timezone", sc.TZ)
    out = ok(db, "dead-letters", "--limit", "50")
    assert out.startswith(f"{n_dead} dead letters")
    assert "heartbeat names 300 location(s)" in out
    engine.dispose()
