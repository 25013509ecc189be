"""EventFactory (edge/events.py): contract messages and deterministic ids from visit changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.events import EventFactory
from edge.visits import Ended, Fired, Visit
from exteros.contract import Event, EventKind, VisitSummary

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE_MS = round(BASE.timestamp() * 1000)


def visit(start: float = 12.3456, last: float = 20.0, first_track: int = 7, **kw) -> Visit:
    v = Visit(first_track, first_track + 3, start, last, (10.0, 20.0), 100.0, **kw)
    return v


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (0.0, BASE),
        (1.5, BASE + timedelta(milliseconds=1500)),
        (12.3456, BASE + timedelta(milliseconds=12346)),  # rounded to the millisecond
        (0.0004, BASE),
        (0.0006, BASE + timedelta(milliseconds=1)),
        (86_400.0, BASE + timedelta(days=1)),
    ],
)
def test_clock_time_to_wall_time_in_milliseconds(t, expected):
    assert EventFactory("edge-1", "cam-1", BASE).at(t) == expected


def test_visit_id_names_device_camera_location_start_and_first_track():
    f = EventFactory("edge-1", "cam-1", BASE)
    v = visit()
    assert f.visit_id("shelf", v) == f"edge-1/cam-1/shelf/{BASE_MS + 12346}-7"
    # the current track id does not matter (an id switch keeps the visit id)
    v.track_id = 99
    assert f.visit_id("shelf", v) == f"edge-1/cam-1/shelf/{BASE_MS + 12346}-7"


@pytest.mark.parametrize(
    ("change", "differs"),
    [
        ({"device_id": "edge-2"}, True),
        ({"camera_id": "cam-2"}, True),
        ({"base": BASE + timedelta(milliseconds=1)}, True),
        ({"location": "door"}, True),
        ({"start": 12.347}, True),  # 1 ms later
        ({"start": 12.3457}, False),  # the same millisecond
        ({"first_track": 8}, True),
        ({"last": 30.0}, False),  # how long the visit lasted is not part of its identity
    ],
)
def test_visit_ids_change_only_with_what_identifies_the_visit(change, differs):
    plain = {"device_id": "edge-1", "camera_id": "cam-1", "base": BASE, "location": "shelf",
             "start": 12.3456, "first_track": 7, "last": 20.0}  # fmt: skip
    other = {**plain, **change}

    def vid(p):
        f = EventFactory(p["device_id"], p["camera_id"], p["base"])
        return f.visit_id(p["location"], visit(p["start"], p["last"], p["first_track"]))

    assert (vid(plain) != vid(other)) is differs


def test_fired_becomes_an_event():
    f = EventFactory("edge-1", "cam-1", BASE)
    v = visit(conf_sum=2.7, conf_n=3)
    ev = f.build("shelf", Fired(v, EventKind.discovery, 15.3456, 3.00049))
    assert isinstance(ev, Event)
    vid = f"edge-1/cam-1/shelf/{BASE_MS + 12346}-7"
    assert ev.event_id == f"{vid}/discovery"
    assert (ev.kind, ev.location, ev.device_id, ev.camera_id, ev.visit_id) == (
        EventKind.discovery, "shelf", "edge-1", "cam-1", vid)  # fmt: skip
    assert ev.visit_started_at == BASE + timedelta(milliseconds=12346)
    assert ev.occurred_at == BASE + timedelta(milliseconds=15346)
    assert ev.dwell_s == 3.0  # rounded to the millisecond
    assert ev.confidence == 0.9
    assert ev.to_payload()["schema"] == "exteros.event/1"


@pytest.mark.parametrize(("conf_sum", "conf_n", "expected"), [
    (0.0, 0, 0.0),  # no observation yet
    (3.3, 3, 1.0),  # clamped into the contract's 0..1
    (-1.0, 1, 0.0),
    (1.23456, 2, 0.617),
])  # fmt: skip
def test_confidence_is_clamped_and_rounded(conf_sum, conf_n, expected):
    f = EventFactory("edge-1", "cam-1", BASE)
    ev = f.build("shelf", Fired(visit(conf_sum=conf_sum, conf_n=conf_n), EventKind.impression,
                                12.85, 0.5))  # fmt: skip
    assert ev.confidence == expected


def test_ended_becomes_a_summary_with_kinds_in_funnel_order():
    f = EventFactory("edge-1", "cam-1", BASE)
    v = visit(start=1.0, last=14.2504, kinds=[EventKind.impression, EventKind.interaction,
                                               EventKind.discovery])  # fmt: skip
    s = f.build("shelf", Ended(v))
    assert isinstance(s, VisitSummary)
    assert s.visit_id == f"edge-1/cam-1/shelf/{BASE_MS + 1000}-7"
    assert s.started_at == BASE + timedelta(seconds=1)
    assert s.ended_at == BASE + timedelta(milliseconds=14250)
    # the dwell agrees with the two millisecond timestamps, not the raw clock times
    assert s.dwell_s == 13.25
    assert s.kinds == [EventKind.impression, EventKind.discovery, EventKind.interaction]
    assert s.to_payload()["schema"] == "exteros.visit/1"


def test_events_and_summary_of_one_visit_share_its_id():
    f = EventFactory("edge-1", "cam-1", BASE)
    v = visit(kinds=[EventKind.impression])
    ev = f.build("shelf", Fired(v, EventKind.impression, 12.8456, 0.5))
    s = f.build("shelf", Ended(v))
    assert ev.visit_id == s.visit_id and ev.event_id == f"{s.visit_id}/impression"


def test_a_store_visit_is_published_like_a_zone_visit():
    """The same visit seen as the store and as a zone: same JSON fields, the store's name
    as location, ids that differ only by the location."""
    f = EventFactory("edge-1", "cam-1", BASE)
    v = visit(conf_sum=1.8, conf_n=2, kinds=[EventKind.impression])
    zone = f.build("madison-ave-store.window", Fired(v, EventKind.impression, 12.8456, 0.5))
    store = f.build("madison-ave-store", Fired(v, EventKind.impression, 12.8456, 0.5))
    assert isinstance(zone, Event) and isinstance(store, Event)
    assert store.location == "madison-ave-store"
    assert store.event_id == f"edge-1/cam-1/madison-ave-store/{BASE_MS + 12346}-7/impression"
    same = {"location", "event_id", "visit_id"}
    assert store.model_dump(exclude=same) == zone.model_dump(exclude=same)
    summary = f.build("madison-ave-store", Ended(v))
    assert isinstance(summary, VisitSummary) and summary.visit_id == store.visit_id
