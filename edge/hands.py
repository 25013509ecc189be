"""Hands as visible evidence: which wrist keypoints show a hand the model really sees.

A pose model places all 17 COCO keypoints on every person, visible or not. A wrist
hidden behind the body (a shopper seen from the back, hands in front of them) is
guessed on the torso, often with a confidence above the plain wrist threshold, and a
product area drawn there then counts touches that nobody saw. A hand is evidence here
when:

1. its wrist is confident (``wrist_conf``), and
2. either its elbow is confident too (``elbow_conf``): the forearm is seen, and the hand
   lies past the wrist along the elbow->wrist line, so the point tested against product
   areas is ``wrist + reach * (wrist - elbow)`` (the palm and fingers, which are what
   touch a product, not the wrist joint);
3. or, with the elbow not seen, the wrist is clearly away from the torso (outside the
   shoulder-hip quadrilateral widened by ``torso_margin`` of the person's height): an
   arm stretched out to the side or up. The wrist itself is then the hand point.

A wrist on the torso is rejected as a guess behind the body when its elbow is not seen,
or when the person's face is not seen (nose and eyes below ``face_conf``): someone seen
from behind has their hands in front of the body, out of the camera's sight, yet the
model still reports their wrists and elbows with high confidence on the back.

Each accepted hand carries a tolerance in pixels, ``tolerance * person height``: a hand
is about a tenth of a person's height, keypoints of small people jitter by a few
pixels, and a product area drawn by a technician is approximate; a fixed pixel radius
would be too large for far people and too small for near ones. A hand touches a
product area when its point is inside or within the tolerance of the polygon.

Pure functions of one person's keypoints and box; no state, no time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edge.modelzoo import COCO_KEYPOINTS

if TYPE_CHECKING:
    from edge.config import ModelConfig

Point = tuple[float, float]

# COCO-17 keypoint indices, from the registry's layout
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HIP, R_HIP = (
    COCO_KEYPOINTS.index(f"{side}_{part}")
    for part in ("shoulder", "elbow", "wrist", "hip")
    for side in ("left", "right")
)
FACE = tuple(COCO_KEYPOINTS.index(n) for n in ("nose", "left_eye", "right_eye"))
ARMS = (("left", L_ELBOW, L_WRIST), ("right", R_ELBOW, R_WRIST))
TORSO = (L_SHOULDER, R_SHOULDER, R_HIP, L_HIP)  # polygon order
TORSO_CONF = 0.3  # shoulders/hips are large, rarely hidden; a looser bar locates the torso

# why a wrist was not taken as a hand (shown in the annotated video)
LOW_CONF = "low-conf"
HIDDEN = "hidden"  # on the torso with the elbow not seen: guessed behind the body


@dataclass(frozen=True, slots=True)
class HandRules:
    """Thresholds of the evidence rules (see the module doc)."""

    wrist_conf: float = 0.5
    elbow_conf: float = 0.5
    reach: float = 0.35  # fraction of the forearm length past the wrist
    tolerance: float = 0.05  # fraction of the person's height, in pixels
    torso_margin: float = 0.03  # fraction of the person's height added around the torso
    face_conf: float = 0.5  # nose or an eye this confident = the person faces the camera


@dataclass(frozen=True, slots=True)
class Hand:
    """A hand seen by the model: the point to test, with its tolerance in pixels."""

    x: float
    y: float
    tol: float
    side: str  # "left" or "right" (the person's own side)
    wrist: Point
    elbow: Point | None  # None when the elbow was not seen


@dataclass(frozen=True, slots=True)
class Rejected:
    """A wrist the model placed but did not see (for the annotated video)."""

    x: float
    y: float
    side: str
    reason: str  # LOW_CONF or HIDDEN


@dataclass(frozen=True, slots=True)
class HandView:
    hands: tuple[Hand, ...]
    rejected: tuple[Rejected, ...]


NO_HANDS = HandView((), ())


def rules_from_config(model_cfg: ModelConfig) -> HandRules:
    """The hand thresholds of a ModelConfig."""
    d = HandRules()
    return HandRules(
        wrist_conf=model_cfg.keypoint_conf,
        elbow_conf=model_cfg.elbow_conf,
        reach=model_cfg.hand_reach,
        tolerance=model_cfg.hand_tolerance,
        torso_margin=d.torso_margin,
        face_conf=d.face_conf,
    )


def torso_polygon(kpts: np.ndarray, margin_px: float) -> np.ndarray | None:
    """Shoulder-hip quadrilateral widened by ``margin_px``; None when it is not seen.

    With both shoulders and both hips confident it is the quad itself. With the two
    shoulders and one hip (or two hips and one shoulder) the missing corner mirrors the
    seen side. Otherwise None: the torso is not located and no wrist is rejected as a
    guess behind it.
    """
    seen = kpts[list(TORSO), 2] >= TORSO_CONF
    if seen.sum() < 3:
        return None
    pts = kpts[list(TORSO), :2].astype(np.float64)
    if not seen.all():  # parallelogram completion: corner = the two neighbours - opposite
        i = int(np.flatnonzero(~seen)[0])
        pts[i] = pts[(i - 1) % 4] + pts[(i + 1) % 4] - pts[(i + 2) % 4]
    centre = pts.mean(axis=0)
    out = []
    for p in pts:
        d = p - centre
        n = float(np.hypot(*d))
        out.append(p + d / n * margin_px if n > 0 else p)
    return np.asarray(out, np.float32)


def inside_or_near(contour: np.ndarray, x: float, y: float, tol: float = 0.0) -> bool:
    """True when (x, y) is inside ``contour`` (an (N, 2) or (N, 1, 2) polygon) or within tol."""
    c = np.asarray(contour, np.float32).reshape(-1, 1, 2)
    if tol <= 0:
        return cv2.pointPolygonTest(c, (float(x), float(y)), False) >= 0
    return cv2.pointPolygonTest(c, (float(x), float(y)), True) >= -tol


def visible_hands(
    kpts: np.ndarray | None,
    box: Sequence[float],
    rules: HandRules = HandRules(),
) -> HandView:
    """The hands of one person that are visible evidence, and the wrists rejected.

    ``kpts`` is the person's (K, 3) COCO keypoints (x, y, confidence) in pixels, or None
    for a box-only model; ``box`` is (x1, y1, x2, y2) in pixels.
    """
    if kpts is None or len(kpts) <= max(R_WRIST, R_HIP):
        return NO_HANDS
    height = max(float(box[3]) - float(box[1]), 1.0)
    tol = rules.tolerance * height
    facing = float(kpts[list(FACE), 2].max()) >= rules.face_conf
    torso: np.ndarray | None = None
    torso_done = False
    hands: list[Hand] = []
    rejected: list[Rejected] = []
    for side, e_i, w_i in ARMS:
        wx, wy, wc = (float(v) for v in kpts[w_i, :3])
        ex, ey, ec = (float(v) for v in kpts[e_i, :3])
        if wc < rules.wrist_conf:
            rejected.append(Rejected(wx, wy, side, LOW_CONF))
            continue
        elbow_seen = ec >= rules.elbow_conf
        if not (elbow_seen and facing):
            if not torso_done:
                torso, torso_done = torso_polygon(kpts, rules.torso_margin * height), True
            if torso is not None and inside_or_near(torso, wx, wy):
                rejected.append(Rejected(wx, wy, side, HIDDEN))
                continue
        if elbow_seen:
            hx, hy = wx + rules.reach * (wx - ex), wy + rules.reach * (wy - ey)
            hands.append(Hand(hx, hy, tol, side, (wx, wy), (ex, ey)))
        else:
            hands.append(Hand(wx, wy, tol, side, (wx, wy), None))
    return HandView(tuple(hands), tuple(rejected))


def touching(hands: Sequence[Hand], area: np.ndarray) -> bool:
    """Any of ``hands`` inside a product area polygon or within its tolerance of it."""
    return any(inside_or_near(area, h.x, h.y, h.tol) for h in hands)
