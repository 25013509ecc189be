"""The attacks of issue 14 against the store, each on SQLite and PostgreSQL.

Company acme (the victim) owns madison-ave-store and device edge-madison-01;
company rival owns rival-store and device edge-rival. Each test checks the
victim's counts through the REST API and the dead letter's reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from central.admin import AdminError, add_device, add_location, create_key
from central.api import create_app
from central.config import ApiSettings, IngestSettings
from central.models import DeadLetter, EventRow, Location, VisitRow
from central.store import Ingestor, Message, dump_json, insert_events
from central.timeutil import to_ms
from exteros.contract import EventKind, VisitSummary, topic
from tests.central import scenario as sc

T0 = datetime(2020, 1, 1, 14, 0, tzinfo=UTC)  # 09:00 in New York
RECEIVED = datetime(2020, 1, 2, 0, 0, tzinfo=UTC)  # the injected receive time
RIVAL = "edge-rival"


def count(engine, table) -> int:  # noqa: ANN001
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def dead_reasons(engine) -> list[str]:  # noqa: ANN001
    with engine.connect() as c:
        return list(c.execute(select(DeadLetter.reason).order_by(DeadLetter.id)).scalars())


def payload(seq: int = 1, **override) -> dict:  # noqa: ANN003
    p = sc.make_event("impression", T0, seq).to_payload()
    p.update(override)
    return p


def msg(p: dict, device: str = sc.DEVICE, kind: str = "events") -> Message:
    return Message(topic(device, kind), dump_json(p))


@pytest.fixture
def world(engine):
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_location(engine, "rival-store", "rival", "UTC")
    add_device(engine, sc.DEVICE, "acme")
    add_device(engine, RIVAL, "rival")
    key, _ = create_key(engine, "acme")
    ing = Ingestor(engine, clock=lambda: to_ms(RECEIVED))
    client = TestClient(create_app(engine, ApiSettings(auth_fail_limit=1000)))

    def victim_impressions(location: str = sc.LOCATION) -> int:
        r = client.get(
            f"/v1/traffic/impression-counts/{location}/{sc.DAY}", headers={"Authorization": key}
        )
        assert r.status_code == 200, r.text
        return sum(item["impressions"] for item in r.json())

    yield {"engine": engine, "ing": ing, "counts": victim_impressions, "client": client}
    client.close()


def test_rival_cannot_take_the_victims_next_event_id(world):
    ing, engine = world["ing"], world["engine"]
    real = payload(seq=7)
    # On its own topic, with its own device_id and location, the victim's next id.
    forged = {**payload(seq=7), "device_id": RIVAL, "location": "rival-store"}
    res = ing.process([msg(forged, RIVAL)])
    assert res.dead == 1
    assert f"event_id {real['event_id']!r} does not belong to device {RIVAL!r}" in res.reasons[0]
    # Claiming to be the victim on its own topic is refused too.
    res = ing.process([msg(payload(seq=7), RIVAL)])
    assert "does not match the topic's device" in res.reasons[0]
    # The real event arrives later and counts.
    assert ing.process([msg(real)]).events == 1
    assert world["counts"]() == 1
    assert count(engine, EventRow) == 1 and count(engine, DeadLetter) == 2


def test_a_visit_id_of_another_device_is_refused(world):
    ing = world["ing"]
    ev = payload(seq=3, visit_id=f"{RIVAL}/cam/1")
    assert "visit_id 'edge-rival/cam/1' does not belong" in ing.process([msg(ev)]).reasons[0]
    visit = VisitSummary(
        visit_id=f"{sc.DEVICE}/{sc.CAMERA}/1",
        location="rival-store",
        device_id=RIVAL,
        camera_id="cam",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=4),
        dwell_s=4.0,
        kinds=[EventKind.impression],
    )
    res = ing.process([msg(visit.to_payload(), RIVAL, "visits")])
    assert res.dead == 1 and "does not belong to device 'edge-rival'" in res.reasons[0]
    assert count(world["engine"], VisitRow) == 0


def test_ids_are_unique_per_device_in_the_schema(world):
    """Even rows written around the ingest checks cannot collide across devices."""
    engine = world["engine"]
    with engine.begin() as conn:
        lid = conn.execute(select(Location.id).where(Location.name == sc.LOCATION)).scalar_one()
        row = {
            "event_id": "same-id",
            "kind": "impression",
            "location_id": lid,
            "camera_id": "cam",
            "visit_id": "v",
            "visit_started_ms": to_ms(T0),
            "occurred_ms": to_ms(T0),
            "dwell_s": 0.5,
            "confidence": 0.9,
            "received_ms": to_ms(T0),
        }
        first = insert_events(conn, [{**row, "device_id": RIVAL}])
        second = insert_events(conn, [{**row, "device_id": sc.DEVICE}])
        again = insert_events(conn, [{**row, "device_id": sc.DEVICE}])
    assert first == {(RIVAL, "same-id")} and second == {(sc.DEVICE, "same-id")}
    assert again == set()
    assert count(engine, EventRow) == 2


def test_a_device_cannot_squat_a_location_name(world):
    ing, engine = world["ing"], world["engine"]
    locations = count(engine, Location)
    squat = {**payload(seq=1), "device_id": RIVAL, "location": "main-st"}
    squat["event_id"] = squat["event_id"].replace(sc.DEVICE, RIVAL)
    squat["visit_id"] = squat["visit_id"].replace(sc.DEVICE, RIVAL)
    res = ing.process([msg(squat, RIVAL)])
    assert res.dead == 1 and "unknown location 'main-st'" in res.reasons[0]
    # One heartbeat naming 300 free names creates nothing.
    hb = {
        "at": "2020-01-01T23:59:00.000Z",
        "uptime_s": 60.0,
        "locations": [f"store-{i:03d}" for i in range(300)],
    }
    res = ing.process([msg(hb, RIVAL, "heartbeat")])
    assert res.dead == 1 and res.heartbeats == 0
    assert "heartbeat names 300 location(s) that are not its company's" in res.reasons[0]
    assert count(engine, Location) == locations
    # The rightful company adds it; the rival's events for it stay refused.
    add_location(engine, "main-st", "acme", sc.TZ)
    res = ing.process([msg(squat, RIVAL)])
    assert "location 'main-st' belongs to another company" in res.reasons[0]
    assert ing.process([msg(payload(seq=1, location="main-st"))]).events == 1
    assert world["counts"]("main-st") == 1
    assert count(engine, DeadLetter) == 3


@pytest.mark.parametrize("name", ["acme-store\n", "acme-store\r\n", "Acme", "acme store"])
def test_names_with_a_trailing_newline_are_not_slugs(world, name):
    engine, ing = world["engine"], world["ing"]
    for call in (
        lambda: add_location(engine, name, "acme", "UTC"),
        lambda: add_location(engine, "fine-name", name, "UTC"),
        lambda: add_device(engine, name, "acme"),
        lambda: create_key(engine, name),
    ):
        with pytest.raises(AdminError, match="is not a slug"):
            call()
    res = ing.process([msg(payload(location=name))])
    assert res.dead == 1 and "location" in res.reasons[0]
    hb = {"at": "2020-01-01T23:59:00.000Z", "uptime_s": 1.0, "locations": [name]}
    assert ing.process([msg(hb, kind="heartbeat")]).dead == 1
    with engine.connect() as c:
        names = set(c.execute(select(Location.name)).scalars())
    assert names == {sc.LOCATION, "rival-store"}


@pytest.mark.parametrize("together", [False, True], ids=["two-batches", "one-batch"])
def test_conflicting_duplicate_is_dead_lettered_and_the_first_copy_kept(world, together):
    ing, engine = world["ing"], world["engine"]
    first = payload(seq=5)
    other = {**first, "camera_id": "cam-other"}  # the same id, other content
    other2 = {**first, "confidence": 0.3}
    batches = (
        [[msg(first), msg(other), msg(other2)]]
        if together
        else [[msg(first)], [msg(other)], [msg(other2)]]
    )  # noqa: E501
    reasons = []
    for b in batches:
        reasons += ing.process(b).reasons
    assert len(reasons) == 2 and all(r.startswith("conflicting duplicate") for r in reasons)
    assert "camera_id" in reasons[0] and "confidence" in reasons[1]
    assert world["counts"]() == 1
    assert count(engine, EventRow) == 1
    with engine.connect() as c:
        conf = c.execute(select(EventRow.confidence)).scalar_one()
    assert conf == first["confidence"]
    # An identical copy stays a harmless no-op.
    res = ing.process([msg(first), msg(first)])
    assert (res.events, res.dead) == (1, 0) and res.outcomes == ["stored", "stored"]
    assert count(engine, DeadLetter) == 2


def test_conflicting_visit_summary_is_dead_lettered(world):
    ing, engine = world["ing"], world["engine"]
    visit = VisitSummary(
        visit_id=f"{sc.DEVICE}/{sc.CAMERA}/1",
        location=sc.LOCATION,
        device_id=sc.DEVICE,
        camera_id=sc.CAMERA,
        started_at=T0,
        ended_at=T0 + timedelta(seconds=4),
        dwell_s=4.0,
        kinds=[EventKind.impression, EventKind.discovery],
    ).to_payload()
    assert ing.process([msg(visit, kind="visits")]).visits == 1
    assert ing.process([msg(visit, kind="visits")]).dead == 0
    res = ing.process([msg({**visit, "dwell_s": 9.0}, kind="visits")])
    assert res.dead == 1 and "conflicting duplicate: visit_id" in res.reasons[0]
    assert "dwell_s differ" in res.reasons[0]
    with engine.connect() as c:
        assert c.execute(select(VisitRow.dwell_s)).scalar_one() == 4.0


FUTURE = "9999-12-31T23:59:59.000Z"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"dwell_s": "3"}, "dwell_s: Input should be a valid number"),
        ({"confidence": True}, "confidence: Input should be a valid number"),
        ({"occurred_at": 1577887200}, "occurred_at: Input should be a valid datetime"),
        ({"kind": 1}, "kind"),
        ({"occurred_at": FUTURE}, "timestamp in the future: occurred_at 9999-12-31T23:59:59Z"),
        ({"visit_started_at": FUTURE, "occurred_at": FUTURE}, "timestamp in the future"),
        ({"occurred_at": "2020-01-02T00:05:01.000Z"}, "300 s clock-skew allowance"),
        (
            {"visit_started_at": "1999-12-31T23:59:59.000Z"},
            "timestamp too early: visit_started_at 1999-12-31T23:59:59Z is before the "
            "earliest accepted date 2000-01-01",
        ),
        (
            {"visit_started_at": "2020-01-01T14:00:10.000Z"},
            "visit_started_at is after occurred_at",
        ),
    ],
)
def test_invalid_payloads_are_dead_lettered_with_the_reason(world, override, reason):
    ing, engine = world["ing"], world["engine"]
    res = ing.process([msg(payload(seq=2, **override)), msg(payload(seq=3))])
    assert (res.events, res.dead) == (1, 1), res.reasons
    assert reason in res.reasons[0]
    assert dead_reasons(engine) == res.reasons
    assert world["counts"]() == 1


def test_last_update_never_moves_into_the_future(world):
    ing, engine = world["ing"], world["engine"]
    received = to_ms(RECEIVED)
    hb = {"at": FUTURE, "uptime_s": 1.0, "locations": [sc.LOCATION]}
    res = ing.process([msg(hb, kind="heartbeat")])
    assert res.dead == 1 and "timestamp in the future: at 9999" in res.reasons[0]
    status = {"state": "online", "at": FUTURE, "version": "1"}
    assert "timestamp in the future" in ing.process([msg(status, kind="status")]).reasons[0]
    # Within the clock-skew allowance it is accepted, but last-update stops at receive time.
    ahead = (RECEIVED + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
    res = ing.process([msg({**hb, "at": ahead}, kind="heartbeat")])
    assert res.heartbeats == 1 and res.dead == 0
    r = world["client"].get(f"/v1/locations/last-update/{sc.LOCATION}", headers=_key(world))
    assert r.json() == [{"last-update": "2020-01-02T00:00:00Z"}]
    with engine.connect() as c:
        last = c.execute(
            select(Location.last_update_ms).where(Location.name == sc.LOCATION)
        ).scalar_one()
    assert last == received


def _key(world) -> dict:  # noqa: ANN001
    key, _ = create_key(world["engine"], "acme")
    return {"Authorization": key}


def test_time_limits_are_configurable(engine):
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_device(engine, sc.DEVICE, "acme")
    old = payload(seq=1)
    old.update(visit_started_at="1995-06-01T10:00:00.000Z", occurred_at="1995-06-01T10:00:01.000Z")
    strict = Ingestor(
        engine, IngestSettings(clock_skew_s=0, earliest="1990-01-01"), lambda: to_ms(RECEIVED)
    )
    assert strict.process([msg(old)]).events == 1
    late = payload(seq=2, occurred_at="2020-01-02T00:00:00.001Z")
    assert "0 s clock-skew allowance" in strict.process([msg(late)]).reasons[0]


def test_time_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("EXTEROS_INGEST_CLOCK_SKEW_S", "60")
    monkeypatch.setenv("EXTEROS_INGEST_EARLIEST", "2010-05-01")
    s = IngestSettings()
    assert s.clock_skew_s == 60 and s.earliest.isoformat() == "2010-05-01"


def test_dead_letters_keep_the_payload(world):
    bad = payload(seq=9, dwell_s="3")
    world["ing"].process([msg(bad)])
    with world["engine"].connect() as c:
        kept = c.execute(select(DeadLetter.payload)).scalar_one()
    assert json.loads(kept)["dwell_s"] == "3"
