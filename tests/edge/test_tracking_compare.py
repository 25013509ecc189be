"""Dev check: the torch-free tracker (edge/track.py) against Ultralytics' BoT-SORT it replaced.

Both get the same scripted detections and colour descriptors with the settings the pipeline
used for Ultralytics (thresholds, buffer in frames, colour as ReID features); the ids each
gives every person must be the same. Needs the ``ultralytics`` dev install (torch); the
device runtime never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from edge.appearance import describe
from edge.config import ModelConfig
from edge.detector import LOW_CONF, Detections
from edge.track import buffer_frames, make_tracker
from tests.edge.test_track import swap_frames
from tests.support.fake_detector import Person, detections_of, render, standing

ultralytics = pytest.importorskip("ultralytics")

FPS = 8.0
RED, BLUE, GREEN = (20, 20, 200), (200, 40, 20), (30, 160, 30)


class _Boxes:
    """What Ultralytics' trackers read from a detection set."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        wh = xyxy[:, 2:4] - xyxy[:, 0:2]
        self.xywh = np.concatenate([xyxy[:, 0:2] + wh / 2, wh], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, idx: np.ndarray) -> _Boxes:
        return _Boxes(self.xyxy[idx], self.conf[idx], self.cls[idx])


def ultralytics_botsort(cfg: ModelConfig) -> Callable[[Detections, np.ndarray], list[Any]]:
    """Ultralytics' BOTSORT as the pipeline configured it before edge/track.py."""
    from ultralytics.trackers.bot_sort import BOTSORT
    from ultralytics.utils import IterableSimpleNamespace

    args = IterableSimpleNamespace(
        tracker_type="botsort", track_high_thresh=cfg.conf, track_low_thresh=LOW_CONF,
        new_track_thresh=max(cfg.conf, 0.3), track_buffer=buffer_frames(cfg.track_buffer_s, FPS),
        match_thresh=0.8, fuse_score=True, gmc_method="none", proximity_thresh=0.3,
        appearance_thresh=cfg.appearance_similarity, with_reid=cfg.appearance, model="auto",
    )  # fmt: skip
    tracker = BOTSORT(args)

    def update(dets: Detections, image: np.ndarray) -> list[Any]:
        if dets.appearance is None:
            dets.appearance = describe(image, dets.xyxy)
        feats = dets.appearance if cfg.appearance else None
        return list(tracker.update(_Boxes(dets.xyxy, dets.conf, dets.cls), image, feats=feats))

    return update


def ids_per_person(
    update: Callable[[Detections, np.ndarray], list[tuple[float, int]]],
    frames: Sequence[Sequence[Person]],
) -> list[dict[int, int]]:
    out = []
    for people in frames:
        dets = detections_of(people)
        rows = update(dets, render(people))
        out.append({int(idx): tid for idx, tid in rows})
    return out


def ours(cfg: ModelConfig) -> Callable[[Detections, np.ndarray], list[tuple[float, int]]]:
    tracker = make_tracker(cfg, FPS)

    def update(dets: Detections, image: np.ndarray) -> list[tuple[float, int]]:
        rows = []
        for t in tracker.update(dets, image):
            rows.append((float(np.abs(dets.xyxy - np.asarray(t.xyxy)).sum(axis=1).argmin()),
                         t.track_id))  # fmt: skip
        return rows

    return update


def theirs(cfg: ModelConfig) -> Callable[[Detections, np.ndarray], list[tuple[float, int]]]:
    update = ultralytics_botsort(cfg)
    return lambda dets, image: [(float(r[7]), int(r[4])) for r in update(dets, image)]


def walker(x0: float, dx: float, colour=RED, conf: float = 0.9, y: float = 200):
    return lambda k: standing(x0 + dx * k, y, 120, colour, conf)


def script(name: str) -> list[list[Person]]:
    a, b, c = walker(40, 8, RED), walker(250, -8, BLUE), walker(140, 0, GREEN, y=150)
    if name == "crossing":
        return [[a(k), b(k)] for k in range(20)]
    if name == "missed_frames":
        return [[a(k)] if k not in (5, 6, 9) else [] for k in range(14)]
    if name == "late_arrival":
        return [[a(k)] + ([b(k)] if k >= 4 else []) for k in range(10)]
    if name == "fading":  # confidence drops to 0.15 and back
        return [[walker(40, 8, RED, 0.15 if 4 <= k < 8 else 0.9)(k), c(k)] for k in range(12)]
    if name == "group":
        return [[a(k), b(k), c(k)] for k in range(16)]
    if name == "gone_and_back":  # a 1.5 s gap, within the 2 s buffer
        return [[c(k)] if not 3 <= k < 15 else [] for k in range(20)]
    raise KeyError(name)


NAMES = ["crossing", "missed_frames", "late_arrival", "fading", "group", "gone_and_back"]


@pytest.mark.parametrize("appearance", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_same_ids_as_ultralytics_botsort(name, appearance):
    cfg = ModelConfig(tracker="botsort", appearance=appearance)
    frames = script(name)
    assert ids_per_person(ours(cfg), frames) == ids_per_person(theirs(cfg), frames)


@pytest.mark.parametrize("appearance", [True, False])
def test_same_ids_where_colour_decides(appearance):
    cfg = ModelConfig(tracker="botsort", appearance=appearance)
    blank = np.zeros((240, 320, 3), np.uint8)
    got = []
    for update in (ours(cfg), theirs(cfg)):
        got.append([dict(update(d, blank)) for d in swap_frames()])
    assert got[0] == got[1]
    assert got[0][-1] == ({0: 1, 1: 2} if appearance else {0: 2, 1: 1})
