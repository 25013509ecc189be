"""Inference ahead of tracking (edge/runtime/lookahead.py) in replay: same events, in order.

``PaintedDetector`` finds the people painted into the test video (coloured boxes on grey)
from the pixels alone, so its answer for a frame does not depend on when or in which
order it is asked. Its asynchronous twin answers on worker threads after random delays
(completion out of order). A replay with it must give exactly the messages of a replay
frame by frame, with and without the motion gate (which skips frames nobody may
be asked about).
"""

from __future__ import annotations

import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import EdgeConfig
from edge.detector import AsyncDetector, Detections
from edge.pipeline import FrameResult
from edge.replay import replay
from edge.runtime.lookahead import Lookahead
from tests.support.fake_detector import Person, detections_of, render, standing

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
VIDEO_FPS = 10
FRAMES = 100


def script(t: float) -> list[Person]:
    """A shopper walking along the shelf, a still gap, then one at the door."""
    people = []
    if t < 2.0:
        people.append(standing(40 + 30 * t, 200))
    if t >= 7.0:
        people.append(standing(240, 200, colour=(200, 60, 60)))
    return people


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lookahead") / "shop.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (320, 240))
    for i in range(FRAMES):
        vw.write(render(script(i / VIDEO_FPS)))
    vw.release()
    return path


class PaintedDetector:
    """People = blobs that differ from the grey background (a box each)."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        self.calls += 1
        mask = (np.abs(image.astype(np.int16) - 110).max(axis=2) > 40).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        people = [Person((float(x), float(y), float(x + w), float(y + h)), 0.9)
                  for x, y, w, h, area in stats[1:n] if area > 200]  # fmt: skip
        return detections_of(people)

    def warmup(self, width: int, height: int, imgsz: tuple[int, int] | None = None) -> None:
        pass


class AsyncPainted(PaintedDetector):
    """The same answers from worker threads, finishing in random order."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = ThreadPoolExecutor(3)
        self.rng = random.Random(7)

    def submit(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Future[Detections]:
        delay = self.rng.uniform(0, 0.01)

        def run() -> Detections:
            time.sleep(delay)
            return self.detect(image, imgsz)

        return self.pool.submit(run)


def config(motion_skip: bool) -> EdgeConfig:
    return EdgeConfig(
        device_id="edge-1",
        model={"process_fps": 0, "motion_skip": motion_skip},
        cameras=[{"camera_id": "cam-1", "source": "shop.avi", "zones": [
            {"location": "shelf", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
            {"location": "door", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
        ]}],
    )  # fmt: skip


def run(video: Path, detector: PaintedDetector, motion_skip: bool):
    messages: list = []
    frames: list[FrameResult] = []

    class Collect:
        def emit(self, msg) -> None:
            messages.append(msg.model_dump_json())

    report = replay(video, config(motion_skip), START, [Collect()], detector=detector,
                    on_frame=frames.append, progress=False)  # fmt: skip
    return report, messages, frames


def test_the_async_double_is_an_async_detector():
    assert isinstance(AsyncPainted(), AsyncDetector)
    assert not isinstance(PaintedDetector(), AsyncDetector)


@pytest.mark.parametrize("motion_skip", [False, True])
def test_inference_ahead_gives_the_frame_by_frame_messages(video, motion_skip):
    sync_report, sync_msgs, _ = run(video, PaintedDetector(), motion_skip)
    ahead = AsyncPainted()
    report, msgs, frames = run(video, ahead, motion_skip)
    assert sync_msgs and msgs == sync_msgs
    assert [r.frame.index for r in frames] == list(range(FRAMES))  # in frame order
    assert report.stats.inferred == sync_report.stats.inferred
    assert report.stats.skipped_still == sync_report.stats.skipped_still
    if motion_skip:
        assert report.stats.skipped_still > 0  # the gap between the two shoppers
    # frames started ahead and not asked about (gate) are at most one per busy->still change
    assert ahead.calls - report.stats.inferred <= 3


def test_lookahead_takes_a_started_frame_once_and_only_for_its_size():
    det = AsyncPainted()
    look = Lookahead(det)
    img = render(script(1.0))
    look.start(img, (384, 640))
    look.start(img, (384, 640))  # already started: not twice
    assert look.started == 1
    first = look.detect(img, (384, 640))
    assert look.used == 1 and len(first) == 1
    look.start(img, (384, 640))
    other = look.detect(img, (736, 1280))  # another size: asked again, not taken
    assert look.used == 1 and len(other) == 1
    look.forget(img)
    assert not look._pending


def test_lookahead_is_a_pass_through_for_a_sync_detector():
    det = PaintedDetector()
    look = Lookahead(det)
    img = render(script(1.0))
    look.start(img, (384, 640))
    assert not look.enabled and look.started == 0 and det.calls == 0
    assert len(look.detect(img, (384, 640))) == 1 and det.calls == 1
