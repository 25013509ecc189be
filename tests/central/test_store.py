"""The ingest write path (shared by the MQTT worker): validation, dead letters, idempotency."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from central.admin import add_device, add_location
from central.models import DeadLetter, Device, EventRow, HeartbeatRow, Location, VisitRow
from central.store import Ingestor, Message, dump_json
from exteros.contract import topic
from tests.central import scenario as sc

T0 = datetime(2020, 1, 1, 14, 0, tzinfo=UTC)


def count(engine, table) -> int:  # noqa: ANN001
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(table)).scalar_one()


def ev_msg(seq=1, loc=sc.LOCATION, dev=sc.DEVICE, **override):  # noqa: ANN001
    """A valid event payload on ``dev``'s topic, with raw fields overridden."""
    payload = sc.make_event("impression", T0, seq, loc, dev).to_payload()
    payload.update(override)
    return Message(topic(dev, "events"), dump_json(payload))


@pytest.fixture
def ing(engine):
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_location(engine, "rival-store", "rival", "UTC")
    add_device(engine, sc.DEVICE, "acme")
    add_device(engine, "edge-rival", "rival")
    return Ingestor(engine)


def test_valid_events_are_stored_once(ing, engine):
    msgs = [ev_msg(seq=i) for i in range(10)]
    assert ing.process(msgs).events == 10
    assert ing.process(msgs + msgs).dead == 0  # redelivery and duplicates in one batch
    assert count(engine, EventRow) == 10


BAD = [
    (b"not json", "not JSON"),
    (b"", "not JSON"),
    (b"[1, 2]", "invalid payload"),
    (b'{"schema": "exteros.event/1"}', "invalid payload"),
    (b"\xff\xfe", "not JSON"),
    (json.dumps({"x": "\u0000"}).encode(), "NUL"),
]


@pytest.mark.parametrize(("payload", "reason"), BAD)
def test_bad_payloads_are_dead_lettered_with_a_reason(ing, engine, payload, reason):
    res = ing.process([Message(topic(sc.DEVICE, "events"), payload), ev_msg()])
    assert res.events == 1 and res.dead == 1
    with engine.connect() as c:
        (got,) = c.execute(select(DeadLetter.reason)).scalars()
    assert reason in got


@pytest.mark.parametrize(
    ("msg", "reason"),
    [
        (ev_msg(kind="purchase"), "kind"),
        (ev_msg(location="Bad Name"), "location"),
        (ev_msg(confidence=2), "confidence"),
        (ev_msg(extra_field=1), "extra_field"),
        (
            Message(
                topic(sc.DEVICE, "events"),
                ev_msg().payload.replace(b'"dwell_s":0.6', b'"dwell_s":Infinity'),
            ),
            "dwell_s",
        ),
        (ev_msg(visit_started_at="2020-01-01T00:00:00"), "visit_started_at"),
        (ev_msg(dev="edge-unknown"), "unknown device"),
        (ev_msg(device_id="edge-rival"), "does not match"),
        (ev_msg(loc="rival-store"), "another company"),
        (Message("exteros/v1/edge-madison-01/other", b"{}"), "unknown topic kind"),
        (Message("elsewhere/x", b"{}"), "not an Exteros topic"),
        (Message(topic(sc.DEVICE, "heartbeat"), b'{"at": 5}'), "invalid payload"),
        (Message(topic(sc.DEVICE, "visits"), b"{}"), "invalid payload"),
    ],
)
def test_wrong_schema_unknown_device_and_foreign_location(ing, engine, msg, reason):
    res = ing.process([msg, ev_msg(seq=99)])
    assert res.dead == 1, res.reasons
    assert reason in res.reasons[0]
    assert count(engine, DeadLetter) == 1
    assert count(engine, EventRow) == 1


def test_ingest_never_creates_a_location(ing, engine):
    before = count(engine, Location)
    res = ing.process(
        [ev_msg(loc="5th-ave-popup"), ev_msg(seq=2, loc=f"{sc.LOCATION}.denim-table")]
    )
    assert (res.events, res.dead) == (0, 2)
    assert all("unknown location" in r and "locations add" in r for r in res.reasons)
    assert count(engine, Location) == before
    # Once the company's admin adds it, the same event is stored.
    add_location(engine, "5th-ave-popup", "acme", sc.TZ)
    assert ing.process([ev_msg(loc="5th-ave-popup")]).events == 1


def test_visits_heartbeats_and_status(ing, engine):
    day = sc.published_day()[:5]
    msgs = [
        Message(
            topic(m.device_id, "events" if m.schema_.startswith("exteros.event") else "visits"),
            dump_json(m.to_payload()),
        )
        for m in day
    ]
    hb = {
        "at": "2021-05-30T09:30:10.500Z",
        "uptime_s": 5,
        "locations": [sc.LOCATION],
        "cameras": {"cam-entrance": {"fps": 10, "connected": True}},
        "outbox_depth": 0,
    }
    status = {"state": "online", "at": "2021-05-30T09:00:00.000Z", "version": "0.1.0"}
    msgs += [
        Message(topic(sc.DEVICE, "heartbeat"), dump_json(hb)),
        Message(topic(sc.DEVICE, "status"), dump_json(status)),
        Message(topic(sc.DEVICE, "status"), b""),  # a cleared retained message
    ]
    res = ing.process(msgs)
    assert res.dead == 0 and res.heartbeats == 1 and res.statuses == 1 and res.visits >= 1
    assert res.outcomes == ["stored"] * (len(msgs) - 1) + ["ignored"]
    again = ing.process(msgs)
    assert again.dead == 0 and again.outcomes == res.outcomes  # identical redelivery
    assert count(engine, VisitRow) == res.visits
    assert count(engine, HeartbeatRow) == 2
    with engine.connect() as c:
        last = dict(c.execute(select(Location.name, Location.last_update_ms)).all())
        state = c.execute(select(Device.state).where(Device.id == sc.DEVICE)).scalar_one()
    assert last[sc.LOCATION] == int(
        datetime(2021, 5, 30, 9, 30, 10, 500000, UTC).timestamp() * 1000
    )
    assert state == "online"

    # A heartbeat naming another company's location is refused whole.
    foreign = {**hb, "locations": [sc.LOCATION, "rival-store"], "at": "2022-01-01T00:00:00Z"}
    res = ing.process([Message(topic(sc.DEVICE, "heartbeat"), dump_json(foreign))])
    assert res.dead == 1 and "not its company's: 'rival-store'" in res.reasons[0]
    with engine.connect() as c:
        after = dict(c.execute(select(Location.name, Location.last_update_ms)).all())
    assert after == last  # neither the rival's nor its own location was touched


def test_a_row_that_fails_is_dead_lettered_alone(ing, engine, monkeypatch):
    import central.store as store

    real = store.event_row

    def flaky(ev, *a):  # noqa: ANN001, ANN002
        if ev.event_id.endswith("-3/madison-ave-store/impression"):
            raise RuntimeError("simulated bug")
        return real(ev, *a)

    monkeypatch.setattr(store, "event_row", flaky)
    res = ing.process([ev_msg(seq=i) for i in range(6)])
    assert (res.events, res.dead) == (5, 1)
    assert "could not be processed: RuntimeError: simulated bug" in res.reasons[0]
    assert count(engine, EventRow) == 5 and count(engine, DeadLetter) == 1


def test_a_running_worker_sees_a_rename_once_its_name_cache_expires(ing, engine, monkeypatch):
    import central.store as store
    from central.admin import rename_location

    now = [1000.0]
    monkeypatch.setattr(store.time, "monotonic", lambda: now[0])
    assert ing.process([ev_msg(seq=1)]).events == 1  # caches the name
    rename_location(engine, sc.LOCATION, "madison-flagship")
    now[0] += store.DEVICE_CACHE_S / 2  # within the cache: still the renamed location
    assert ing.process([ev_msg(seq=2)]).events == 1
    now[0] += store.DEVICE_CACHE_S  # expired: the old name is unknown now
    res = ing.process([ev_msg(seq=3)])
    assert (res.events, res.dead) == (0, 1) and "unknown location" in res.reasons[0]
    assert ing.process([ev_msg(seq=4, loc="madison-flagship")]).events == 1
