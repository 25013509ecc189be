"""Hands as visible evidence: synthetic keypoint tables, then the real model on real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.hands import (
    HIDDEN,
    LOW_CONF,
    HandRules,
    inside_or_near,
    torso_polygon,
    touching,
    visible_hands,
)

BOX = (100.0, 100.0, 200.0, 400.0)  # a person 300 px tall
RULES = HandRules(wrist_conf=0.5, elbow_conf=0.5, reach=0.35, tolerance=0.05, torso_margin=0.03)


def person(
    l_elbow=(120.0, 210.0, 0.9),
    l_wrist=(118.0, 255.0, 0.9),
    r_elbow=(180.0, 210.0, 0.9),
    r_wrist=(182.0, 255.0, 0.9),
    torso_conf=0.9,
    face_conf=0.9,
    scale=1.0,
) -> np.ndarray:
    """(17, 3) COCO keypoints of a standing person facing the camera, arms hanging."""
    k = np.zeros((17, 3), np.float32)
    k[:, 2] = 0.9
    k[0:3, 2] = face_conf  # nose, eyes
    k[5] = (125, 160, torso_conf)  # left shoulder (image left, for simplicity)
    k[6] = (175, 160, torso_conf)
    k[11] = (132, 260, torso_conf)  # left hip
    k[12] = (168, 260, torso_conf)
    k[7], k[9], k[8], k[10] = l_elbow, l_wrist, r_elbow, r_wrist
    k[:, :2] *= scale
    return k


CASES = [
    # name, keypoints, accepted sides, rejected (side, reason)
    ("arms hanging, all seen", person(), {"left", "right"}, set()),
    (
        "left arm hidden behind the body: wrist guessed on the belly, elbow unseen",
        person(l_elbow=(128, 210, 0.2), l_wrist=(150, 235, 0.7)),
        {"right"},
        {("left", HIDDEN)},
    ),
    (
        "both hands hidden in front of a person seen from the back",
        person(
            l_elbow=(130, 210, 0.3),
            l_wrist=(145, 245, 0.6),
            r_elbow=(170, 210, 0.3),
            r_wrist=(155, 245, 0.6),
        ),  # fmt: skip
        set(),
        {("left", HIDDEN), ("right", HIDDEN)},
    ),
    (
        "arms crossed on the chest: forearms seen, so the hands count",
        person(
            l_elbow=(120, 215, 0.9),
            l_wrist=(165, 200, 0.8),
            r_elbow=(180, 215, 0.9),
            r_wrist=(135, 200, 0.8),
        ),  # fmt: skip
        {"left", "right"},
        set(),
    ),
    (
        "seen from behind: forearms reported, face unseen, wrists on the back = hidden",
        person(
            l_elbow=(128, 215, 0.9),
            l_wrist=(145, 240, 0.8),
            r_elbow=(172, 215, 0.9),
            r_wrist=(155, 240, 0.8),
            face_conf=0.1,
        ),  # fmt: skip
        set(),
        {("left", HIDDEN), ("right", HIDDEN)},
    ),
    (
        "seen from behind, arms hanging at the sides (outside the torso): hands count",
        person(face_conf=0.1),
        {"left", "right"},
        set(),
    ),
    (
        "low-confidence elbow, wrist stretched out away from the torso",
        person(r_elbow=(200, 190, 0.3), r_wrist=(240, 170, 0.8)),
        {"left", "right"},
        set(),
    ),
    (
        "low-confidence wrist is never a hand, wherever it is",
        person(l_wrist=(60, 170, 0.45)),
        {"right"},
        {("left", LOW_CONF)},
    ),
    (
        "torso not located (shoulders/hips unseen): no wrist is called hidden",
        person(l_elbow=(128, 210, 0.2), l_wrist=(150, 235, 0.7), torso_conf=0.1),
        {"left", "right"},
        set(),
    ),
]


@pytest.mark.parametrize(("name", "kpts", "sides", "rejected"), CASES, ids=[c[0] for c in CASES])
def test_evidence_rules(name, kpts, sides, rejected):
    view = visible_hands(kpts, BOX, RULES)
    assert {h.side for h in view.hands} == sides
    assert {(r.side, r.reason) for r in view.rejected} == rejected


def test_hand_point_extends_past_the_wrist_along_the_forearm():
    k = person(r_elbow=(200.0, 200.0, 0.9), r_wrist=(240.0, 200.0, 0.9))  # arm out sideways
    (hand,) = [h for h in visible_hands(k, BOX, RULES).hands if h.side == "right"]
    assert (hand.x, hand.y) == pytest.approx((240 + 0.35 * 40, 200))
    assert hand.wrist == (240.0, 200.0) and hand.elbow == (200.0, 200.0)
    k[8, 2] = 0.3  # elbow unseen: no direction known, the wrist itself is tested
    (hand,) = [h for h in visible_hands(k, BOX, RULES).hands if h.side == "right"]
    assert (hand.x, hand.y) == (240.0, 200.0) and hand.elbow is None


@pytest.mark.parametrize(
    ("scale", "gap_px", "touches"),
    [
        (1.0, 14.0, True),  # 300 px tall: tolerance 15 px
        (1.0, 16.0, False),
        (0.5, 7.0, True),  # 150 px tall: tolerance 7.5 px
        (0.5, 14.0, False),  # the same 14 px that touched for the near person
        (2.0, 29.0, True),  # 600 px tall: tolerance 30 px
    ],
)
def test_tolerance_scales_with_person_height(scale, gap_px, touches):
    k = person(r_elbow=(200.0, 200.0, 0.9), r_wrist=(240.0, 200.0, 0.9), scale=scale)
    box = tuple(v * scale for v in BOX)
    view = visible_hands(k, box, RULES)
    (hand,) = [h for h in view.hands if h.side == "right"]
    assert hand.tol == pytest.approx(0.05 * 300 * scale)
    x0 = hand.x + gap_px  # a product area starting gap_px right of the hand point
    area = np.array([(x0, hand.y - 50), (x0 + 80, hand.y - 50), (x0 + 80, hand.y + 50),
                     (x0, hand.y + 50)], np.float32)  # fmt: skip
    assert touching(view.hands, area) is touches


def test_point_polygon_inclusive_and_tolerance():
    sq = np.array([(0, 0), (10, 0), (10, 10), (0, 10)], np.float32)
    assert inside_or_near(sq, 10, 5)  # border counts
    assert not inside_or_near(sq, 12, 5)
    assert inside_or_near(sq, 12, 5, tol=2.0)
    assert not inside_or_near(sq, 12.5, 5, tol=2.0)


def test_torso_missing_corner_is_mirrored_and_box_only_models_have_no_hands():
    k = person()
    k[12, 2] = 0.1  # right hip unseen
    poly = torso_polygon(k, 0.0)
    assert poly is not None
    assert poly[2] == pytest.approx((175 + 132 - 125, 160 + 260 - 160))  # rsh + lhip - lsh
    k[11, 2] = 0.1  # and the left hip: the torso is not located
    assert torso_polygon(k, 0.0) is None
    assert visible_hands(None, BOX, RULES).hands == ()
    assert visible_hands(k[:9], BOX, RULES).hands == ()  # too few keypoints


# -- the real model on real photos ------------------------------------------------------


@pytest.fixture(scope="module")
def detector():
    from edge.config import ModelConfig
    from edge.runtime.ultralytics import UltralyticsDetector

    return UltralyticsDetector(ModelConfig(weights="yolo11n-pose.pt", imgsz=640))


def _asset(name: str) -> np.ndarray:
    import cv2
    import ultralytics

    img = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / name))
    assert img is not None, name
    return img


def _tallest_near(dets, x: float) -> int:
    """Index of the detection whose box centre is nearest to x."""
    centres = (dets.xyxy[:, 0] + dets.xyxy[:, 2]) / 2
    return int(np.argmin(np.abs(centres - x)))


@pytest.mark.model
def test_real_model_hands_of_a_walker_seen_from_behind_are_not_evidence(detector):
    """bus.jpg: the man at the right edge walks away from the camera, hands out of sight:
    no hand of his counts; the man in black holding a phone at his hip has both hands."""
    dets = detector.detect(_asset("bus.jpg"))
    walker = _tallest_near(dets, 740)
    assert visible_hands(dets.keypoints[walker], dets.xyxy[walker], HandRules()).hands == ()
    phone = _tallest_near(dets, 283)
    view = visible_hands(dets.keypoints[phone], dets.xyxy[phone], HandRules())
    assert {h.side for h in view.hands} == {"left", "right"}
    phone_area = np.array([(255, 645), (295, 645), (295, 705), (255, 705)], np.float32)
    assert touching(view.hands, phone_area)
