"""A scripted stand-in for the person detector, to drive the real pipeline in milliseconds.

``FakeDetector`` meets the ``edge.detector.Detector`` seam: ``detect(image, imgsz)`` returns
``Detections`` (boxes, confidences, classes and 17 COCO keypoints per person) taken from a
script, a function of the frame's clock time. Everything after the detector is the real
code: the tracker (edge/track.py), visits, events, the motion gate.

The detector does not see the frame's time, only its image, so it learns the time from
whoever drives it: ``drive`` sets ``detector.now`` before every frame; without it (a replay
over a video file) the n-th call is at ``n / fps``. ``render`` paints the scripted people
into a small synthetic frame, so the motion gate and the colour descriptors see them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from edge.detector import Detections
from edge.pipeline import CameraPipeline, FrameResult
from edge.sources import Frame

WIDTH, HEIGHT = 320, 240  # a small frame: the pipeline only needs its size and pixels

# COCO-17 keypoint indices used by the hand rules (edge/hands.py)
NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 0, 5, 6, 7, 8
L_WRIST, R_WRIST, L_HIP, R_HIP = 9, 10, 11, 12


@dataclass(frozen=True)
class Person:
    """One scripted detection: a box in pixels, its confidence, optional keypoints."""

    box: tuple[float, float, float, float]
    conf: float = 0.9
    keypoints: np.ndarray | None = None  # (17, 3); None = a skeleton with no visible hands
    # BGR, what ``render`` paints; its grey level differs from the background (110) by more
    # than the motion gate's pixel delta, so the gate sees the person arrive and leave
    colour: tuple[int, int, int] = (30, 60, 20)


Script = Callable[[float], Sequence[Person]]


def standing(
    feet_x: float,
    feet_y: float,
    height: float = 120.0,
    colour: tuple[int, int, int] = Person.colour,
    conf: float = 0.9,
) -> Person:
    """A person whose feet point (the box's bottom centre) is at (feet_x, feet_y)."""
    w = height * 0.4
    box = (feet_x - w / 2, feet_y - height, feet_x + w / 2, feet_y)
    return Person(box, conf, skeleton(box), colour)


def skeleton(
    box: tuple[float, float, float, float], reach_to: tuple[float, float] | None = None
) -> np.ndarray:
    """17 keypoints for a person facing the camera with arms down (no hand seen away from
    the torso: wrists at the hips, elbows hidden) or, with ``reach_to``, the right arm
    stretched so that the hand point (wrist + reach past it) lands on that pixel."""
    x1, y1, x2, y2 = box
    h, cx = y2 - y1, (x1 + x2) / 2
    kp = np.zeros((17, 3), np.float32)
    kp[NOSE] = (cx, y1 + 0.08 * h, 0.95)
    kp[1] = (cx - 0.03 * h, y1 + 0.06 * h, 0.9)
    kp[2] = (cx + 0.03 * h, y1 + 0.06 * h, 0.9)
    kp[L_SHOULDER] = (cx + 0.12 * h, y1 + 0.2 * h, 0.9)
    kp[R_SHOULDER] = (cx - 0.12 * h, y1 + 0.2 * h, 0.9)
    kp[L_HIP] = (cx + 0.08 * h, y1 + 0.5 * h, 0.9)
    kp[R_HIP] = (cx - 0.08 * h, y1 + 0.5 * h, 0.9)
    # arms down: wrists at the hips, low confidence (not hands)
    kp[L_WRIST] = (cx + 0.1 * h, y1 + 0.5 * h, 0.2)
    kp[R_WRIST] = (cx - 0.1 * h, y1 + 0.5 * h, 0.2)
    kp[L_ELBOW] = (cx + 0.12 * h, y1 + 0.35 * h, 0.2)
    kp[R_ELBOW] = (cx - 0.12 * h, y1 + 0.35 * h, 0.2)
    if reach_to is not None:
        # hand = wrist + 0.35 * (wrist - elbow) (edge/hands.py, default hand_reach)
        hx, hy = reach_to
        sx, sy = kp[R_SHOULDER, :2]
        # elbow halfway from shoulder to the hand, wrist chosen so the hand lands on target
        ex, ey = (sx + hx) / 2, (sy + hy) / 2
        wx, wy = (hx + 0.35 * ex) / 1.35, (hy + 0.35 * ey) / 1.35
        kp[R_ELBOW] = (ex, ey, 0.9)
        kp[R_WRIST] = (wx, wy, 0.9)
    return kp


def reaching(
    feet_x: float, feet_y: float, hand: tuple[float, float], height: float = 120.0
) -> Person:
    """A standing person whose right hand reaches the pixel ``hand``."""
    p = standing(feet_x, feet_y, height)
    return Person(p.box, p.conf, skeleton(p.box, hand), p.colour)


def detections_of(people: Sequence[Person]) -> Detections:
    if not people:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.float32), np.zeros((0, 17, 3), np.float32))  # fmt: skip
    kps = [p.keypoints if p.keypoints is not None else skeleton(p.box) for p in people]
    return Detections(
        xyxy=np.asarray([p.box for p in people], np.float32),
        conf=np.asarray([p.conf for p in people], np.float32),
        cls=np.zeros(len(people), np.float32),
        keypoints=np.stack(kps).astype(np.float32),
    )


@dataclass
class FakeDetector:
    """``Detector`` whose detections come from ``script(t)``; records every call."""

    script: Script
    fps: float = 8.0  # the clock of call n when nobody sets ``now``
    now: float | None = None
    calls: list[float] = field(default_factory=list)  # the time of every detect()
    sizes: list[tuple[int, int] | None] = field(default_factory=list)  # imgsz per call
    warmups: list[tuple[int, int, tuple[int, int] | None]] = field(default_factory=list)

    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        t = self.now if self.now is not None else len(self.calls) / self.fps
        self.calls.append(t)
        self.sizes.append(imgsz)
        return detections_of(self.script(t))

    def warmup(self, width: int, height: int, imgsz: tuple[int, int] | None = None) -> None:
        self.warmups.append((width, height, imgsz))


def render(people: Iterable[Person], size: tuple[int, int] = (WIDTH, HEIGHT)) -> np.ndarray:
    """A grey BGR frame with each person painted as a filled box in its colour."""
    w, h = size
    img = np.full((h, w, 3), 110, np.uint8)
    for p in people:
        x1, y1, x2, y2 = (round(v) for v in p.box)
        img[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = p.colour
    return img


def times(start: float, stop: float, fps: float = 8.0) -> list[float]:
    """Frame times from ``start`` up to (not including) ``stop`` at ``fps``."""
    n = round((stop - start) * fps)
    return [round(start + i / fps, 6) for i in range(n)]


def drive(
    pipe: CameraPipeline,
    detector: FakeDetector,
    ts: Iterable[float],
    image: Callable[[float], np.ndarray] | None = None,
) -> list[FrameResult]:
    """Feed frames at times ``ts`` through ``pipe``; the image is ``render(script(t))``
    unless ``image`` is given. Returns every frame's result (finish() not called)."""
    out = []
    for i, t in enumerate(ts):
        detector.now = t
        img = image(t) if image is not None else render(detector.script(t))
        out.append(pipe.process(Frame(img, i, t)))
    detector.now = None
    return out
