"""The annotated video shows what the hand rule saw: the real model and pipeline on bus.jpg."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.annotate import GUESS, HAND, Annotator
from edge.config import parse_config
from edge.hands import HandRules, visible_hands
from edge.pipeline import CameraPipeline
from edge.sources import Frame

PHONE = (255, 645, 295, 705)  # the man in black holds a phone at his hip (pixels)
SKY = (560, 60, 700, 160)  # bus.jpg's building facade: no hand near it

pytestmark = pytest.mark.model  # every test here looks at the real model's output


def _rel(box, w, h):
    x1, y1, x2, y2 = box
    return [[x1 / (w - 1), y1 / (h - 1)], [x2 / (w - 1), y1 / (h - 1)],
            [x2 / (w - 1), y2 / (h - 1)], [x1 / (w - 1), y2 / (h - 1)]]  # fmt: skip


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    import ultralytics

    from edge.runtime.ultralytics import UltralyticsDetector

    img = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    h, w = img.shape[:2]
    zone = {"location": "street", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]],
            "product_areas": [_rel(PHONE, w, h), _rel(SKY, w, h)]}  # fmt: skip
    cfg = parse_config({
        "device_id": "edge-1",
        "model": {"weights": "yolo11n-pose.pt", "imgsz": 640, "motion_skip": False},
        "cameras": [{"camera_id": "cam-1", "source": "bus.jpg", "zones": [zone]}],
    })  # fmt: skip
    pipe = CameraPipeline(cfg, cfg.cameras[0], UltralyticsDetector(cfg.model), 8.0,
                          datetime(2020, 1, 1, 9, 0, tzinfo=UTC))  # fmt: skip
    out = tmp_path_factory.mktemp("annotate") / "a.mp4"
    ann = Annotator(out, 8.0, (w, h))
    for i in range(3):
        res = pipe.process(Frame(img, i, i / 8.0))
        ann.write(pipe, res)
    picture = ann.render(pipe, res)
    ann.close()
    return picture, res, out


def _edge_pixel(picture: np.ndarray, box) -> np.ndarray:
    x1, y1, x2, _ = box
    return picture[y1, (x1 + x2) // 2].astype(int)  # on the top edge of the outline


def test_touched_product_area_turns_yellow_the_other_stays_white(rendered):
    picture, _, out = rendered
    b, g, r = _edge_pixel(picture, PHONE)
    assert b < 60 and g > 200 and r > 200, (b, g, r)  # yellow: the hand holds the phone
    b, g, r = _edge_pixel(picture, SKY)
    assert b > 180 and g > 200 and r > 200, (b, g, r)  # white: nobody's hand there
    assert out.stat().st_size > 10_000


def test_visible_hands_and_rejected_guesses_are_drawn(rendered):
    picture, res, _ = rendered
    views = [visible_hands(tr.keypoints, tr.xyxy, HandRules()) for tr in res.tracks]
    hands = [h for v in views for h in v.hands]
    guesses = [g for v in views for g in v.rejected]
    assert hands and guesses  # bus.jpg has both (the walker at the right edge: guesses)
    for hd in hands:
        assert tuple(picture[round(hd.y), round(hd.x)]) == HAND
    # the marker is a cross centred on the guessed wrist; a later drawing may cover one
    hits = sum(tuple(picture[round(g.y), round(g.x)]) == GUESS for g in guesses)
    assert hits >= len(guesses) - 1, [(g.x, g.y, g.reason) for g in guesses]
