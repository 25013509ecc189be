"""Colour descriptors of a person's box, to tell two people apart where boxes overlap.

A descriptor is two hue-saturation histograms plus a coarse brightness histogram, one
for the upper body and one for the legs (central 60 % of the box width, so the
background at the sides weighs less), square-rooted and L2-normalised: the dot
product of two descriptors is their similarity (1 = same colours, ~0 = unrelated).
Cheap (~0.1 ms a box on a 384x288 frame) and needs no model; clothes colours carry
most of what separates shoppers in one camera over a few seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

HUE_BINS, SAT_BINS, VAL_BINS = 16, 4, 8
PART_DIM = HUE_BINS * SAT_BINS + VAL_BINS
DIM = 2 * PART_DIM
# (top, bottom) of each part as a fraction of the box height, from the box top
PARTS = ((0.12, 0.5), (0.5, 0.9))
WIDTH_KEEP = 0.6
MIN_PART_PX = 12  # a part smaller than this many pixels has no usable colours


def _part_histogram(patch: np.ndarray) -> np.ndarray:
    if patch.size < MIN_PART_PX * 3:
        return np.zeros(PART_DIM, np.float32)
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    hs = cv2.calcHist([hsv], [0, 1], None, [HUE_BINS, SAT_BINS], [0, 180, 0, 256]).ravel()
    v = cv2.calcHist([hsv], [2], None, [VAL_BINS], [0, 256]).ravel()
    out = np.concatenate([hs, 0.5 * v]).astype(np.float32)
    return out / max(float(out.sum()), 1e-6)


def describe_box(image: np.ndarray, xyxy: Sequence[float]) -> np.ndarray:
    """The descriptor of one box (pixels, x1 y1 x2 y2); all zeros when it has no pixels."""
    h_img, w_img = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in xyxy[:4])
    cx, half = (x1 + x2) / 2.0, (x2 - x1) * WIDTH_KEEP / 2.0
    c1, c2 = int(max(0.0, cx - half)), int(min(float(w_img), cx + half))
    parts = []
    for top, bottom in PARTS:
        r1 = int(max(0.0, y1 + top * (y2 - y1)))
        r2 = int(min(float(h_img), y1 + bottom * (y2 - y1)))
        patch = image[r1:r2, c1:c2] if r2 > r1 and c2 > c1 else image[0:0, 0:0]
        parts.append(_part_histogram(patch))
    feat: np.ndarray = np.sqrt(np.concatenate(parts))
    norm = float(np.linalg.norm(feat))
    return feat / norm if norm > 0 else feat


def describe(image: np.ndarray, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Descriptors of N boxes, shape (N, DIM)."""
    if len(boxes_xyxy) == 0:
        return np.zeros((0, DIM), np.float32)
    return np.stack([describe_box(image, b) for b in boxes_xyxy]).astype(np.float32)


def similarity(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Cosine similarity of two descriptors; None when either is missing or empty."""
    if a is None or b is None:
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0:
        return None
    return float(np.dot(a, b) / (na * nb))
