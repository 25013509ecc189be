"""Store-level counts: a camera's ``store:`` is one more location, the union of its zones.

The real CameraPipeline (tracker, visits, events, motion gate) on scripted detections
(tests/support/fake_detector.py), 8 processed frames per second. Zones of the 320x240
frame: ``table`` is x 0..128 (a product area in its top-left corner), ``window`` x
192..320 (a product area in its top-right corner); the floor between them (64 px, 0.64 s
at the walking speed below) belongs to no zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import EdgeConfig
from edge.outputs import Message
from edge.pipeline import CameraPipeline
from edge.visits import Fired, LocationVisits, Observation, Rules, union_inside, union_rules
from exteros.contract import Event, EventKind, VisitSummary
from tests.support.fake_detector import FakeDetector, Person, drive, reaching, standing, times

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE_MS = round(BASE.timestamp() * 1000)
FPS = 8.0
STORE = "madison-ave-store"
TABLE = f"{STORE}.denim-table"
WINDOW = f"{STORE}.window"
TABLE_POLY = [[0, 0], [0.4, 0], [0.4, 1], [0, 1]]
WINDOW_POLY = [[0.6, 0], [1, 0], [1, 1], [0.6, 1]]
TABLE_PRODUCT = [[0, 0], [0.2, 0], [0.2, 0.3], [0, 0.3]]  # pixels x 0..64, y 0..72
WINDOW_PRODUCT = [[0.8, 0], [1, 0], [1, 0.3], [0.8, 0.3]]  # pixels x 256..320, y 0..72
IMP, DIS, ENG, INT = (EventKind.impression, EventKind.discovery, EventKind.engagement,
                      EventKind.interaction)  # fmt: skip
RED = (40, 40, 200)


def config(*, table: dict[str, Any] | None = None, window: dict[str, Any] | None = None,
           **camera: Any) -> EdgeConfig:  # fmt: skip
    zones = [
        {"location": TABLE, "polygon": TABLE_POLY, "product_areas": [TABLE_PRODUCT],
         **(table or {})},
        {"location": WINDOW, "polygon": WINDOW_POLY, "product_areas": [WINDOW_PRODUCT],
         **(window or {})},
    ]  # fmt: skip
    cam = {"camera_id": "cam-1", "source": "v.mp4", "zones": zones, "store": STORE, **camera}
    return EdgeConfig(device_id="edge-1", cameras=[cam])


def run(cfg: EdgeConfig, script, until: float) -> tuple[list[Message], CameraPipeline]:
    det = FakeDetector(script, fps=FPS)
    pipe = CameraPipeline(cfg, cfg.cameras[0], det, FPS, BASE)
    msgs = [m for r in drive(pipe, det, times(0, until, FPS)) for m in r.messages]
    return msgs + pipe.finish(), pipe


def events(msgs: list[Message], location: str) -> list[Event]:
    return [m for m in msgs if isinstance(m, Event) and m.location == location]


def visits(msgs: list[Message], location: str) -> list[VisitSummary]:
    return [m for m in msgs if isinstance(m, VisitSummary) and m.location == location]


def kinds(msgs: list[Message], location: str) -> list[list[EventKind]]:
    """Per visit of ``location`` (in start order), the kinds its summary lists."""
    return [v.kinds for v in sorted(visits(msgs, location), key=lambda v: v.started_at)]


def visit_id(location: str, start_s: float, track: int) -> str:
    return f"edge-1/cam-1/{location}/{BASE_MS + round(start_s * 1000)}-{track}"


def table_then_window(t: float) -> list[Person]:
    """Stands 5 s at the table (x 60), walks 2 s to the window (x 260), stands 4 s, leaves."""
    if t < 5:
        return [standing(60, 200)]
    if t < 7:
        return [standing(60 + 100 * (t - 5), 200)]
    return [standing(260, 200)] if t < 11 else []


# -- one person, two zones ---------------------------------------------------------------------
def test_one_person_in_two_zones_is_one_store_visit():
    msgs, pipe = run(config(), table_then_window, 14)
    # each zone sees a visit of ~5.7 s and ~5.3 s: discovery, no engagement...
    assert kinds(msgs, TABLE) == [[IMP, DIS]]
    assert kinds(msgs, WINDOW) == [[IMP, DIS]]
    # ...the store sees one visit of the whole 11 s (the 0.64 s walk outside both zones is
    # shorter than the exit grace): one impression, and an engagement no zone had
    assert kinds(msgs, STORE) == [[IMP, DIS, ENG]]
    (store,) = visits(msgs, STORE)
    assert store.visit_id == visit_id(STORE, 0.0, 1)
    assert store.dwell_s == pytest.approx(11 - 1 / FPS)
    assert [(e.kind, e.dwell_s, e.visit_id) for e in events(msgs, STORE)] == [
        (IMP, 0.5, store.visit_id), (DIS, 3.0, store.visit_id), (ENG, 10.0, store.visit_id),
    ]  # fmt: skip
    # the same event JSON as a zone's, under the store's name; counted next to the zones
    counts = {loc: {k.value: n for k, n in pipe.stats.counts[loc].items()} for loc in
              (TABLE, WINDOW, STORE)}  # fmt: skip
    assert counts[STORE] == {"impression": 1, "discovery": 1, "engagement": 1, "interaction": 0}
    assert [row[0] for row in pipe.stats.table(cfg_locations())] == [TABLE, WINDOW, STORE]
    assert pipe.open_visits() == 0


def cfg_locations() -> list[str]:
    return config().cameras[0].locations()


def test_two_people_are_two_store_visits():
    def script(t: float) -> list[Person]:
        people = []
        if t < 4:
            people.append(standing(60, 200))
        if 1 <= t < 5:
            people.append(standing(260, 200, colour=RED))
        return people

    msgs, _ = run(config(), script, 8)
    assert kinds(msgs, TABLE) == [[IMP, DIS]]
    assert kinds(msgs, WINDOW) == [[IMP, DIS]]
    assert kinds(msgs, STORE) == [[IMP, DIS], [IMP, DIS]]
    assert len({v.visit_id for v in visits(msgs, STORE)}) == 2


def path(*keys: tuple[float, float | None]):
    """Keyframes (t, feet x) of one person on feet row 200, straight lines between them;
    x None: out of view from t until the next key."""

    def script(t: float) -> list[Person]:
        for (t0, x0), (t1, x1) in zip(keys, keys[1:], strict=False):
            if t0 <= t < t1:
                if x0 is None:
                    return []
                x = x0 if x1 is None else x0 + (x1 - x0) * (t - t0) / (t1 - t0)
                return [standing(x, 200)]
        return []

    return script


@pytest.mark.parametrize(
    ("script", "store_visits"),
    [
        # at the table 3.5 s, out of view 4 s (> exit grace 2 s), at the window 3.5 s
        pytest.param(path((0, 60), (3.5, None), (7.5, 260), (11, None)), 2, id="gone 4 s"),
        # at the table, 3.6 s on the floor between the zones, then at the window
        pytest.param(path((0, 60), (3, 60), (4, 160), (7, 160), (8, 260), (11, 260),
                          (11, None)), 2, id="3.6 s between zones"),
        # the same with 0.9 s between the zones (< exit grace): one visit
        pytest.param(path((0, 60), (3, 60), (4, 160), (4.3, 160), (5.3, 260), (8, 260),
                          (8, None)), 1, id="0.9 s between zones"),
    ],
)  # fmt: skip
def test_away_longer_than_the_exit_grace_is_a_new_store_visit(script, store_visits):
    msgs, _ = run(config(), script, 13)
    assert len(visits(msgs, STORE)) == store_visits
    assert len(events(msgs, STORE)) == 2 * store_visits  # impression, discovery each
    assert len(visits(msgs, TABLE)) == len(visits(msgs, WINDOW)) == 1


def test_count_store_false_makes_no_store_events():
    msgs, pipe = run(config(count_store=False), table_then_window, 14)
    assert {m.location for m in msgs} == {TABLE, WINDOW}
    assert pipe.store is None
    assert kinds(msgs, TABLE) == [[IMP, DIS]] and kinds(msgs, WINDOW) == [[IMP, DIS]]


def test_no_store_key_no_store_location():
    msgs, _ = run(config(store=None), table_then_window, 14)
    assert {m.location for m in msgs} == {TABLE, WINDOW}


# -- interactions ----------------------------------------------------------------------------
def touch_both(t: float) -> list[Person]:
    """Touches the table's products twice, walks to the window, touches its products."""
    if t < 5:
        touching = 1 <= t < 2 or 3 <= t < 4
        return [reaching(60, 200, (30, 40)) if touching else standing(60, 200)]
    if t < 7:
        return [standing(60 + 100 * (t - 5), 200)]
    if t < 11:
        return [reaching(260, 200, (290, 40)) if 8 <= t < 9 else standing(260, 200)]
    return []


def test_an_interaction_counts_once_for_the_store():
    msgs, pipe = run(config(), touch_both, 14)
    assert INT in kinds(msgs, TABLE)[0] and INT in kinds(msgs, WINDOW)[0]
    store_int = [e for e in events(msgs, STORE) if e.kind is INT]
    # the first touch at the table, once for the whole store visit
    assert [(e.location, (e.occurred_at - BASE).total_seconds()) for e in store_int] == [
        (STORE, 1.25)
    ]
    assert kinds(msgs, STORE) == [[IMP, DIS, ENG, INT]]
    assert pipe.stats.counts[STORE][INT] == 1


def test_a_touch_in_one_zone_only_is_a_store_interaction():
    def script(t: float) -> list[Person]:
        return table_then_window(t) if not 8 <= t < 9 else [reaching(260, 200, (290, 40))]

    msgs, _ = run(config(), script, 14)
    assert kinds(msgs, TABLE) == [[IMP, DIS]]
    assert kinds(msgs, WINDOW) == [[IMP, DIS, INT]]
    assert kinds(msgs, STORE) == [[IMP, DIS, ENG, INT]]


# -- ids, thresholds, reloads ----------------------------------------------------------------
def test_store_ids_are_deterministic():
    first, _ = run(config(), touch_both, 14)
    second, _ = run(config(), touch_both, 14)
    assert [m.model_dump_json() for m in first] == [m.model_dump_json() for m in second]
    vid = visit_id(STORE, 0.0, 1)
    assert {e.event_id for e in events(first, STORE)} == {
        f"{vid}/{k}" for k in ("impression", "discovery", "engagement", "interaction")
    }
    # store ids never collide with the zones' (the location is part of the id)
    ids = [m.event_id for m in first if isinstance(m, Event)]
    assert len(ids) == len(set(ids))


def test_store_rules_are_the_most_lenient_of_its_zones():
    cfg = config(table={"discovery_s": 5.0, "exit_grace_s": 1.0},
                 window={"confirm_s": 1.0, "discovery_s": 4.0, "engagement_s": 20.0,
                         "exit_grace_s": 3.0})  # fmt: skip
    assert union_rules([Rules(discovery_s=5.0, exit_grace_s=1.0),
                        Rules(confirm_s=1.0, discovery_s=4.0, engagement_s=20.0,
                              exit_grace_s=3.0)]) == Rules(
        confirm_s=0.5, discovery_s=4.0, engagement_s=10.0, exit_grace_s=3.0, interaction_s=0.2
    )  # fmt: skip

    # 2.5 s between the zones: longer than the table's grace, shorter than the window's
    def script(t: float) -> list[Person]:
        if t < 4.5:
            return [standing(60, 200)]
        if t < 7:
            return [standing(160, 200)]
        return [standing(260, 200)] if t < 9 else []

    msgs, _ = run(cfg, script, 13)
    assert kinds(msgs, STORE) == [[IMP, DIS]]  # one visit; discovery at 4 s
    assert [e.dwell_s for e in events(msgs, STORE)] == [0.5, 4.0]
    with pytest.raises(ValueError, match="at least one zone"):
        union_rules([])


def test_reload_keeps_the_store_visit_and_a_renamed_store_starts_anew():
    cfg = config()
    det = FakeDetector(lambda t: [standing(60, 200)] if t < 8 else [], fps=FPS)
    pipe = CameraPipeline(cfg, cfg.cameras[0], det, FPS, BASE)
    msgs = [m for r in drive(pipe, det, times(0, 2, FPS)) for m in r.messages]
    # reload with a wider table: the store visit goes on
    wider = config(table={"polygon": [[0, 0], [0.45, 0], [0.45, 1], [0, 1]]}).cameras[0]
    pipe.reconfigure(wider)
    msgs += [m for r in drive(pipe, det, times(2, 4, FPS)) for m in r.messages]
    assert [e.kind for e in events(msgs, STORE)] == [IMP, DIS]
    # reload naming another store: the old store's visit ends, the new one starts
    pipe.reconfigure(config(store="fifth-ave-store").cameras[0])
    msgs += [m for r in drive(pipe, det, times(4, 10, FPS)) for m in r.messages]
    msgs += pipe.finish()
    assert [v.visit_id for v in visits(msgs, STORE)] == [visit_id(STORE, 0.0, 1)]
    assert [e.visit_id for e in events(msgs, "fifth-ave-store")] == [
        visit_id("fifth-ave-store", 4.0, 1)
    ] * 2
    # switching the count off closes the store's open visit too
    pipe2 = CameraPipeline(cfg, cfg.cameras[0], det, FPS, BASE)
    drive(pipe2, det, times(0, 2, FPS))
    pipe2.reconfigure(config(count_store=False).cameras[0])
    closed = [m for r in drive(pipe2, det, times(2, 3, FPS)) for m in r.messages]
    assert [v.location for v in visits(closed, STORE)] == [STORE]
    assert pipe2.store is None


# -- invariant: whatever a zone counts for a person, the store counts too --------------------
def _inside(x0: float, x1: float):
    return lambda x, y: x0 <= x <= x1


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([50.0, 150.0, 250.0, None]), st.integers(1, 40)),
        min_size=1,
        max_size=8,
    )
)
def test_store_counts_cover_the_zones(path):
    """One person moves between two zones, the floor between them and out of view; each
    kind a zone visit fires lies inside a store visit that fired it too, no later."""
    a = LocationVisits(Rules(), _inside(0, 100))
    b = LocationVisits(Rules(discovery_s=4.0, exit_grace_s=1.0), _inside(200, 300))
    store = LocationVisits(union_rules([a.rules, b.rules]), union_inside([a.inside, b.inside]))
    fired: dict[str, list[tuple[EventKind, float, float]]] = {"a": [], "b": [], "s": []}
    t = 0.0
    for x, frames in [*path, (None, 40)]:
        for _ in range(frames):
            obs = [Observation(1, (x, 100.0), 100.0, 0.9)] if x is not None else []
            for name, lv in (("a", a), ("b", b), ("s", store)):
                for c in lv.update(t, obs):
                    if isinstance(c, Fired):
                        fired[name].append((c.kind, c.visit.start_t, c.at))
            t += 0.125
    for name in ("a", "b"):
        for kind, start, at in fired[name]:
            assert any(k is kind and s <= start and a_ <= at for k, s, a_ in fired["s"]), (
                name, kind, start, fired,
            )  # fmt: skip
