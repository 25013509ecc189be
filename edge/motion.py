"""Cheap motion test on a downscaled grey frame, to skip inference on empty scenes."""

from __future__ import annotations

import cv2
import numpy as np

WIDTH = 160  # pixels of the downscaled image; enough to see a person move
PIXEL_DELTA = 18  # grey levels that count as a change (above compression noise)


class MotionGate:
    """``moved(image)``: did enough of the picture change since the previous call?"""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._prev: np.ndarray | None = None

    def _small(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(image, (WIDTH, max(1, round(h * WIDTH / w))),
                           interpolation=cv2.INTER_AREA)  # fmt: skip
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(grey, (5, 5), 0)

    def moved(self, image: np.ndarray) -> bool:
        small = self._small(image)
        prev, self._prev = self._prev, small
        if prev is None or prev.shape != small.shape:
            return True
        changed = np.count_nonzero(cv2.absdiff(small, prev) > PIXEL_DELTA)
        return bool(changed > self.threshold * small.size)
