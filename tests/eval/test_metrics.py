"""Recall by height, identity metrics and the event parser on small synthetic tables."""

from __future__ import annotations

import json

import pytest
from evaluation.boxes import iou_matrix, match_boxes
from evaluation.detection import recall_by_height
from evaluation.gt import by_frame, parse_gt
from evaluation.identity import identity_scores, prepare
from evaluation.runners import parse_events, settings_env


def test_iou_and_one_to_one_matching():
    a = [(0, 0, 10, 10), (20, 0, 30, 10)]
    b = [(0, 0, 10, 5), (21, 0, 31, 10), (100, 100, 110, 110)]
    iou = iou_matrix(a, b)
    assert iou[0, 0] == pytest.approx(0.5)
    assert iou[1, 1] == pytest.approx(90 / 110)
    assert iou[0, 2] == 0
    assert match_boxes(a, b) == [(0, 0), (1, 1)]
    assert match_boxes(a, b, min_iou=0.6) == [(1, 1)]
    # one detection cannot serve two people
    assert len(match_boxes([(0, 0, 10, 10), (0, 0, 10, 10)], [(0, 0, 10, 10)])) == 1
    assert iou_matrix([], b).shape == (0, 3)


def test_recall_by_height_bins_ignores_and_frames():
    gt = by_frame(parse_gt([
        "1,1,0,0,10,30,1,1,1",  # 30 px: found
        "1,2,50,0,10,50,1,1,1",  # 50 px: missed
        "1,3,100,0,10,80,0,1,0",  # ignore box: never counted
        "2,1,0,0,10,120,1,1,1",  # 120 px: found
        "3,1,0,0,10,70,1,1,1",  # frame 3 not run: not counted
    ]))  # fmt: skip
    pred = {1: [(0, 0, 10, 30), (100, 0, 110, 80)], 2: [(0, 1, 10, 121)], 3: []}
    r = recall_by_height(gt, pred, frames=[1, 2])
    assert r == {"20-40": (1, 1), "40-60": (0, 1), "60-100": (0, 0), "100+": (1, 1),
                 ">=40": (1, 2), "all": (2, 3)}  # fmt: skip


def _gt_two_people(frames: int, swap_at: int | None = None):
    lines, pred = [], {}
    for k in range(1, frames + 1):
        lines += [f"{k},1,0,0,10,50,1,1,1", f"{k},2,100,0,10,50,1,1,1"]
        ids = (1, 2) if swap_at is None or k < swap_at else (2, 1)
        pred[k] = [(ids[0], (0, 0, 10, 50)), (ids[1], (100, 0, 110, 50))]
    return by_frame(parse_gt(lines)), pred


def test_identity_perfect_and_swapped():
    gt, pred = _gt_two_people(10)
    s = identity_scores(gt, pred, list(range(1, 11)))
    assert s["idf1"] == pytest.approx(1.0)
    assert s["hota"] == pytest.approx(1.0)
    assert s["id_switches"] == 0
    gt, pred = _gt_two_people(10, swap_at=6)
    s = identity_scores(gt, pred, list(range(1, 11)))
    assert s["idf1"] == pytest.approx(0.5)
    assert s["id_switches"] == 2
    assert 0.4 < s["hota"] < 0.9
    assert s["mota"] == pytest.approx(0.9)  # 1 - 2 switches / 20 boxes


def test_a_track_on_an_ignore_box_is_not_a_false_positive():
    gt = by_frame(parse_gt(["1,1,0,0,10,50,1,1,1", "1,2,100,0,10,50,0,1,0"]))
    pred = {1: [(7, (0, 0, 10, 50)), (8, (100, 0, 110, 50)), (9, (200, 0, 210, 50))]}
    frames = prepare(gt, pred, [1])
    assert frames == [([1], [(0.0, 0.0, 10.0, 50.0)], [7, 9], [(0, 0, 10, 50), (200, 0, 210, 50)])]
    s = identity_scores(gt, pred, [1])
    assert s["mota"] == pytest.approx(0.0)  # one hit, one false positive (track 9), not two


def test_parse_events_visits_and_counts():
    base = "2026-01-01T10:00:"
    lines = [
        json.dumps({"schema": "exteros.event/1", "kind": "impression", "location": "z"}),
        json.dumps({"schema": "exteros.event/1", "kind": "interaction", "location": "z"}),
        json.dumps({"schema": "exteros.visit/1", "location": "z", "visit_id": "d/c/z/123-4",
                    "started_at": base + "01.500Z", "ended_at": base + "04.000Z",
                    "dwell_s": 2.5, "kinds": ["impression", "interaction"]}),
        "",
    ]  # fmt: skip
    run = parse_events(lines)
    assert run.counts["z"] == {"impression": 1, "discovery": 0, "engagement": 0}
    [span] = run.visits["z"]
    assert (span.start, span.end, span.label, span.kinds) == (1.5, 4.0, "123-4", ("impression",))


def test_settings_env_maps_dotted_keys_to_the_config_environment():
    assert settings_env({"model.imgsz": "[480,640]", "model.process_fps": "4"}) == {
        "EXTEROS_MODEL__IMGSZ": "[480,640]",
        "EXTEROS_MODEL__PROCESS_FPS": "4",
    }
