"""True visits from ground truth: the feet rule, ignore boxes, the exit grace, the kinds."""

from __future__ import annotations

import pytest
from evaluation.gt import GtError, parse_gt
from evaluation.visits import Span, Thresholds, track_visits, true_visits

FPS = 10.0  # frame k is at (k - 1) / 10 s


def left_half(x: float, y: float) -> bool:
    return x < 100


def rows(person: int, spec: str, first: int = 1) -> list[str]:
    """One gt row per character: I inside, O outside, ? ignore box inside, . no box."""
    out = []
    for k, c in enumerate(spec, first):
        if c == ".":
            continue
        x = 40 if c in "I?" else 160  # box 20 px wide: feet at x + 10
        conf = 0 if c == "?" else 1
        out.append(f"{k},{person},{x},50,20,60,{conf},1,{float(conf)}")
    return out


def spans(spec: str, rules: Thresholds = Thresholds(exit_grace_s=0.5)) -> list[tuple]:
    vs = true_visits(parse_gt(rows(1, spec)), left_half, FPS, rules)
    return [(round(v.start, 2), round(v.end, 2)) for v in vs]


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("IIIII", [(0.0, 0.4)]),
        ("OOIIIOO", [(0.2, 0.4)]),
        # last inside at 0.2 s, back at 0.7 s: a gap of 0.5 s is within the grace, one visit
        ("IIIOOOOIII", [(0.0, 0.9)]),
        # back at 0.8 s: a gap of 0.6 s is longer than the grace, two visits
        ("IIIOOOOOIII", [(0.0, 0.2), (0.8, 1.0)]),
        # not labelled for a while (left the frame) behaves like outside
        ("III......III", [(0.0, 0.2), (0.9, 1.1)]),
        # ignore boxes between inside frames: hidden, not gone, even beyond the grace
        ("II????????II", [(0.0, 1.1)]),
        # ignore boxes at the ends never start or extend a visit
        ("??IIII??", [(0.2, 0.5)]),
        # ignore boxes next to an outside frame count as outside
        ("IIO??????III", [(0.0, 0.1), (0.9, 1.1)]),
        # ... and a missing frame inside an ignore run breaks the bridge
        ("II???.???II", [(0.0, 0.1), (0.9, 1.0)]),
        ("OOOO", []),
        ("????", []),
    ],
)
def test_true_visit_spans(spec, expected):
    assert spans(spec) == expected


@pytest.mark.parametrize(
    "dwell, kinds",
    [
        (0.49, ()),
        (0.5, ("impression",)),
        (2.99, ("impression",)),
        (3.0, ("impression", "discovery")),
        (9.9, ("impression", "discovery")),
        (10.0, ("impression", "discovery", "engagement")),
    ],
)
def test_kinds_follow_the_thresholds(dwell, kinds):
    assert Thresholds().kinds(dwell) == kinds


def test_people_are_separate_and_sorted_by_start():
    gt = parse_gt(rows(2, "..IIIIII") + rows(1, "IIII") + rows(3, "OOOO"))
    vs = true_visits(gt, left_half, FPS, Thresholds())
    assert [(v.label, v.start, v.kinds) for v in vs] == [
        ("id1", 0.0, ()),
        ("id2", 0.2, ("impression",)),
    ]


def test_feet_point_is_the_bottom_centre():
    # a box whose left edge is inside but whose bottom centre is outside is outside
    gt = parse_gt(["1,1,90,10,40,50,1,1,1", "2,1,90,10,40,50,1,1,1"])
    assert true_visits(gt, left_half, FPS) == []
    gt = parse_gt(["1,1,70,10,40,50,1,1,1", "2,1,70,10,40,50,1,1,1"])
    assert len(true_visits(gt, left_half, FPS)) == 1


def test_parse_gt_skips_non_pedestrians_and_rejects_garbage():
    gt = parse_gt(["1,1,0,0,10,20,1,1,1", "1,2,0,0,10,20,1,7,1", "", "# comment"])
    assert [(b.person, b.xyxy) for b in gt] == [(1, (0.0, 0.0, 10.0, 20.0))]
    with pytest.raises(GtError, match="gt:1"):
        parse_gt(["1,1,0,0"])
    with pytest.raises(GtError, match="not a number"):
        parse_gt(["1,1,a,0,10,20,1,1,1"])


def test_track_visits_first_to_last_inside_per_track():
    rows_ = [(0.0, 7, (50, 0)), (0.5, 7, (150, 0)), (1.0, 7, (50, 0)),  # leaves and returns
             (0.0, 8, (50, 0)), (0.2, 8, (50, 0)),  # too short to be confirmed
             (0.0, 9, (150, 0))]  # fmt: skip
    vs = track_visits(rows_, left_half)
    assert vs == [Span(0.0, 1.0, "track7", ("impression",)), Span(0.0, 0.2, "track8", ())]
