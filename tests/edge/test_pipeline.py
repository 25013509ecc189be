"""CameraPipeline end to end with scripted detections (no model): counts, ids, gate, reloads.

A ``FakeDetector`` (tests/support/fake_detector.py) stands in for YOLO; the tracker,
visits, events and the motion gate are the real ones. Frames are small synthetic images
with the scripted people painted in, processed at 8 per second of clock time. The
real-model replays (test_scenario_replay.py, tests/eval) stay the acceptance layer.

Zones of the 320x240 frame: ``shelf`` is the left half (a product area in its top-left
corner), ``door`` the right half.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from edge.config import CameraConfig, EdgeConfig
from edge.outputs import Message
from edge.pipeline import CameraPipeline, FrameResult
from exteros.contract import Event, EventKind, VisitSummary
from tests.support.fake_detector import (
    FakeDetector,
    Person,
    drive,
    reaching,
    render,
    standing,
    times,
)

BASE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BASE_MS = round(BASE.timestamp() * 1000)
FPS = 8.0
LEFT = [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
RIGHT = [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]
WHOLE = [[0, 0], [1, 0], [1, 1], [0, 1]]
PRODUCT = [[0, 0], [0.2, 0], [0.2, 0.3], [0, 0.3]]  # pixels x 0..64, y 0..72
IMP, DIS, ENG, INT = (EventKind.impression, EventKind.discovery, EventKind.engagement,
                      EventKind.interaction)  # fmt: skip


def zone(location: str, polygon: list[list[float]], **kw: Any) -> dict[str, Any]:
    return {"location": location, "polygon": polygon, **kw}


def config(*zones: dict[str, Any], **model: Any) -> EdgeConfig:
    zs = list(zones) or [zone("shelf", LEFT, product_areas=[PRODUCT]), zone("door", RIGHT)]
    return EdgeConfig(
        device_id="edge-1",
        cameras=[{"camera_id": "cam-1", "source": "v.mp4", "zones": zs}],
        model=model,
    )


def camera(*zones: dict[str, Any]) -> CameraConfig:
    return config(*zones).cameras[0]


def pipeline(cfg: EdgeConfig, script, base: datetime = BASE) -> tuple[CameraPipeline, FakeDetector]:
    det = FakeDetector(script, fps=FPS)
    return CameraPipeline(cfg, cfg.cameras[0], det, FPS, base), det


def run(cfg: EdgeConfig, script, until: float, base: datetime = BASE) -> list[Message]:
    """Every message of frames 0..until plus the end-of-stream close."""
    pipe, det = pipeline(cfg, script, base)
    res = drive(pipe, det, times(0, until, FPS))
    return messages(res) + pipe.finish()


def messages(results: list[FrameResult]) -> list[Message]:
    return [m for r in results for m in r.messages]


def events(msgs: list[Message]) -> list[Event]:
    return [m for m in msgs if isinstance(m, Event)]


def summaries(msgs: list[Message]) -> list[VisitSummary]:
    return [m for m in msgs if isinstance(m, VisitSummary)]


def kinds_by_visit(msgs: list[Message]) -> dict[str, list[EventKind]]:
    out: dict[str, list[EventKind]] = {}
    for e in events(msgs):
        out.setdefault(e.visit_id, []).append(e.kind)
    return out


def visit_id(location: str, start_s: float, track: int) -> str:
    return f"edge-1/cam-1/{location}/{BASE_MS + round(start_s * 1000)}-{track}"


# -- counts per kind -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("stay_s", "kinds"),
    [
        (0.25, []),  # never confirmed: noise, no events and no summary
        (1.0, [IMP]),
        (4.0, [IMP, DIS]),
        (11.0, [IMP, DIS, ENG]),
    ],
)
def test_kinds_follow_the_dwell(stay_s, kinds):
    msgs = run(config(), lambda t: [standing(80, 200)] if t < stay_s else [], stay_s + 4)
    assert [e.kind for e in events(msgs)] == kinds
    vid = visit_id("shelf", 0.0, 1)
    assert all(e.visit_id == vid and e.location == "shelf" for e in events(msgs))
    # each kind fires at its threshold crossing, whatever the frame rate
    thresholds = {IMP: 0.5, DIS: 3.0, ENG: 10.0}
    for e in events(msgs):
        assert e.dwell_s == thresholds[e.kind]
        assert (e.occurred_at - BASE).total_seconds() == thresholds[e.kind]
    sums = summaries(msgs)
    if not kinds:
        assert sums == []
    else:
        assert [(s.visit_id, s.kinds) for s in sums] == [(vid, kinds)]
        # from the first frame inside to the last one (1/8 s before the person left)
        assert sums[0].dwell_s == pytest.approx(stay_s - 1 / FPS)


def test_counts_per_location_with_people_in_both_zones():
    def script(t: float) -> list[Person]:
        people = []
        if t < 11:
            people.append(standing(80, 200))  # shelf, 11 s
        if 1 <= t < 5:
            people.append(standing(240, 200, colour=(200, 60, 60)))  # door, 4 s
        if 8 <= t < 9:  # door, 1 s, after the first one's track and visit have ended
            people.append(standing(250, 150, colour=(60, 200, 60)))
        return people

    pipe, det = pipeline(config(), script)
    msgs = messages(drive(pipe, det, times(0, 14, FPS))) + pipe.finish()
    counts = {loc: {k.value: n for k, n in pipe.stats.counts[loc].items()} for loc in
              ("shelf", "door")}  # fmt: skip
    assert counts == {
        "shelf": {"impression": 1, "discovery": 1, "engagement": 1, "interaction": 0},
        "door": {"impression": 2, "discovery": 1, "engagement": 0, "interaction": 0},
    }
    assert len(summaries(msgs)) == 3
    assert pipe.open_visits() == 0
    assert pipe.stats.frames == 14 * FPS
    # the detector ran at the camera's model input size (auto, from the frame size)
    assert set(det.sizes) == {pipe.imgsz} and pipe.imgsz is not None


# -- deterministic ids -----------------------------------------------------------------------
def busy_script(t: float) -> list[Person]:
    people = []
    if t < 6:
        people.append(standing(60 + 5 * t, 200))  # shelf, slowly moving
    if 0.5 <= t < 2.5 or 6 <= t < 11:  # door: two visits (3.5 s apart > exit grace)
        people.append(standing(250, 210, colour=(10, 200, 220)))
    if 2 <= t < 4:
        people.append(reaching(100, 190, (30, 40), height=110))  # shelf, touches the product
    return people


def test_same_frames_same_config_give_the_same_messages():
    first = run(config(), busy_script, 12)
    second = run(config(), busy_script, 12)
    assert len(first) >= 8 and {e.kind for e in events(first)} == {IMP, DIS, INT}
    assert [m.model_dump_json() for m in first] == [m.model_dump_json() for m in second]
    ids = [e.event_id for e in events(first)]
    assert len(ids) == len(set(ids))
    assert {e.event_id.rsplit("/", 1)[0] for e in events(first)} == {
        e.visit_id for e in events(first)
    }


def test_ids_are_built_from_the_base_time_and_the_first_track():
    msgs = run(config(), busy_script, 12)
    door = sorted({e.visit_id for e in events(msgs) if e.location == "door"})
    # the door person arrives at 0.5 s and again at 6 s: a track shows from its second frame
    # (the tracker confirms a new track once it is matched again), so visits start 1/8 s later
    assert door[0] == visit_id("door", 0.625, 2)
    assert door[1].startswith(f"edge-1/cam-1/door/{BASE_MS + 6125}-")
    later = run(config(), busy_script, 12, base=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    assert {e.event_id for e in events(later)}.isdisjoint({e.event_id for e in events(msgs)})

    # the same visits, each start an hour later: only the start in the id moved
    def shifted(event_id: str) -> str:
        dev, cam, loc, start_track, kind = event_id.split("/")
        start, track = start_track.split("-")
        return f"{dev}/{cam}/{loc}/{int(start) + 3_600_000}-{track}/{kind}"

    assert [e.event_id for e in events(later)] == [shifted(e.event_id) for e in events(msgs)]


# -- motion gate -----------------------------------------------------------------------------
def still_visitor(t: float) -> list[Person]:
    return [standing(80, 200)] if 2 <= t < 6 else []


def test_motion_gate_skips_still_frames_only_while_nobody_is_tracked():
    pipe, det = pipeline(config(), still_visitor)
    drive(pipe, det, times(0, 14, FPS))
    called = set(det.calls)
    # an empty, still scene: the first frame is inferred (nothing to compare with), then none
    assert [t for t in det.calls if t < 2] == [0.0]
    # a person standing perfectly still (identical frames) is never skipped
    assert set(times(2, 6, FPS)) <= called
    # after they leave, the tracker and the open visit keep inference on for a while...
    assert 6.0 in called and 6.5 in called
    # ...then the still, empty scene is skipped again
    assert [t for t in det.calls if t >= 10] == []
    assert pipe.stats.inferred == len(det.calls)
    assert pipe.stats.skipped_still == pipe.stats.frames - pipe.stats.inferred
    assert pipe.stats.skipped_still >= 15 + 4 * 8


def test_motion_gate_off_infers_every_frame():
    pipe, det = pipeline(config(motion_skip=False), still_visitor)
    drive(pipe, det, times(0, 14, FPS))
    assert det.calls == times(0, 14, FPS)
    assert pipe.stats.skipped_still == 0


def test_motion_without_detections_is_inferred_but_counts_nothing():
    flicker = {t: (t * 8) % 2 == 0 for t in times(0, 4, FPS)}

    def image(t: float):
        img = render([])
        if flicker[t]:
            img[:, :40] = 250  # a light switching on and off at the side
        return img

    pipe, det = pipeline(config(), lambda t: [])
    res = drive(pipe, det, times(0, 4, FPS), image)
    assert det.calls == times(0, 4, FPS)
    assert messages(res) == [] and pipe.finish() == []


# -- reconfigure -----------------------------------------------------------------------------
def test_reconfigure_keeps_open_visits_and_applies_new_thresholds():
    def script(t: float) -> list[Person]:
        return [standing(80, 200), standing(240, 200, colour=(200, 60, 60))] if t < 8 else []

    pipe, det = pipeline(config(), script)
    before = messages(drive(pipe, det, times(0, 2, FPS)))
    assert [(e.location, e.kind) for e in events(before)] == [("shelf", IMP), ("door", IMP)]
    # reload: the shelf gets a later discovery and a wider polygon, the door zone is removed,
    # an entrance zone is added
    pipe.reconfigure(camera(
        zone("shelf", [[0, 0], [0.6, 0], [0.6, 1], [0, 1]], discovery_s=5.0),
        zone("entrance", RIGHT),
    ))  # fmt: skip
    after = messages(drive(pipe, det, times(2, 10, FPS))) + pipe.finish()
    # the open door visit is closed on the next frame with its summary
    assert isinstance(after[0], VisitSummary) and after[0].location == "door"
    assert after[0].visit_id == visit_id("door", 0.0, 2) and after[0].kinds == [IMP]
    # the shelf visit goes on: same id, discovery at the new threshold, not a new impression
    shelf = [e for e in events(after) if e.location == "shelf"]
    assert [(e.visit_id, e.kind, e.dwell_s) for e in shelf] == [
        (visit_id("shelf", 0.0, 1), DIS, 5.0)
    ]
    # the person at the door is a new visit of the new zone, from the reload on
    entrance = [e for e in events(after) if e.location == "entrance"]
    assert [(e.visit_id, e.kind) for e in entrance] == [
        (visit_id("entrance", 2.0, 2), IMP),
        (visit_id("entrance", 2.0, 2), DIS),
    ]
    assert {s.location for s in summaries(after)} == {"door", "shelf", "entrance"}


# -- stalls and id switches ------------------------------------------------------------------
def test_a_short_camera_stall_continues_the_visit():
    pipe, det = pipeline(config(), lambda t: [standing(80, 200)])
    ts = times(0, 2, FPS) + times(3.5, 5, FPS)  # no frames for 1.6 s (< exit grace 2 s)
    msgs = messages(drive(pipe, det, ts)) + pipe.finish()
    assert kinds_by_visit(msgs) == {visit_id("shelf", 0.0, 1): [IMP, DIS]}
    (s,) = summaries(msgs)
    assert s.dwell_s == pytest.approx(4.875)


def test_a_camera_dropout_is_not_a_departure():
    """No frames for 5.1 s (> exit grace): the camera saw nothing, so nobody was seen to
    leave. When frames resume with the tracker still holding the same person in the same
    place, the visit goes on (one person, one visit) and its dwell covers the gap; a person
    who really left is not there when frames resume and their visit ends as usual."""
    pipe, det = pipeline(config(), lambda t: [standing(80, 200)])
    ts = times(0, 2, FPS) + times(7, 9, FPS)
    msgs = messages(drive(pipe, det, ts)) + pipe.finish()
    assert kinds_by_visit(msgs) == {visit_id("shelf", 0.0, 1): [IMP, DIS]}


@pytest.mark.parametrize(
    ("back_x", "gap", "visits"),
    [
        (130, 0.5, 1),  # a new track 50 px away after 0.5 s: the tracker switched ids
        (300, 0.5, 2),  # 220 px away (> 0.6 + 1.0/s person heights): somebody else
        (80, 3.0, 2),  # same place after 3 s (> exit grace): a new visit
    ],
)
def test_a_new_track_near_a_just_lost_visit_continues_it(back_x, gap, visits):
    def script(t: float) -> list[Person]:
        if t < 2:
            return [standing(80, 200)]
        return [] if t < 2 + gap else [standing(back_x, 200)]

    cfg = config(zone("floor", WHOLE))
    pipe, det = pipeline(cfg, script)
    res = drive(pipe, det, times(0, 6 + gap, FPS))
    msgs = messages(res) + pipe.finish()
    # the tracker gave the person a new id after the gap in every case
    assert sorted({tr.track_id for r in res for tr in r.tracks}) == [1, 2]
    sums = summaries(msgs)
    assert len(sums) == visits
    assert sums[0].visit_id == visit_id("floor", 0.0, 1)
    if visits == 1:
        assert sums[0].kinds == [IMP, DIS]  # 0..6.375 s with a 0.5 s hole
        assert sums[0].dwell_s == pytest.approx(6 + gap - 1 / FPS)
    else:
        assert sums[0].kinds == [IMP] and sums[1].kinds == [IMP, DIS]
        # a new track shows from its second frame (the tracker confirms it then)
        assert sums[1].visit_id == visit_id("floor", 2 + gap + 1 / FPS, 2)


# -- interactions from keypoints -------------------------------------------------------------
def touch(hand: tuple[float, float], during=lambda t: 1 <= t < 2):
    """A person standing in the shelf zone whose right hand reaches ``hand`` ``during``."""
    return lambda t: reaching(80, 200, hand) if during(t) else standing(80, 200)


def walker(t: float) -> Person:
    """Walking through the shelf zone at 80 px/s, the hand on the product area until 1.5 s."""
    x = 40 + 80 * t
    return reaching(x, 200, (30, 40)) if t < 1.5 else standing(x, 200)


@pytest.mark.parametrize(
    ("script", "fires_at"),
    [
        pytest.param(touch((30, 40)), 1.25, id="hand in the area 1 s"),
        pytest.param(touch((67, 40)), 1.25, id="hand within tolerance"),  # 3 px outside
        pytest.param(touch((90, 40)), None, id="hand 26 px outside"),
        pytest.param(touch((30, 40), lambda t: t == 1.0), None, id="one frame only"),
        pytest.param(touch((30, 40), lambda t: t < 1), 0.5, id="touch before confirmation"),
        pytest.param(walker, None, id="walking past"),
    ],
)
def test_interaction_from_scripted_keypoints(script, fires_at):
    msgs = run(config(), lambda t: [script(t)] if t < 3 else [], 6)
    inter = [e for e in events(msgs) if e.kind is INT]
    if fires_at is None:
        assert inter == []
    else:
        # after interaction_s (0.2 s) of touching, once the visit is confirmed (0.5 s)
        assert [e.location for e in inter] == ["shelf"]
        assert (inter[0].occurred_at - BASE).total_seconds() == fires_at
        assert summaries(msgs)[0].kinds == [IMP, INT]
