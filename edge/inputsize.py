"""The model input size for a camera: from its resolution and the smallest person to find.

A detector finds a person reliably once the person is about ``TARGET_PERSON_PX`` tall
*in the model input*. Measured with yolo11n-pose on the CAVIAR corridor clip
(384x288, every 3rd frame, IoU >= 0.5; see docs/real-cameras.md, "Small and far people"): people
40-60 px tall were found 1 % of the time at 1x (input 288x384), 45 % at 1.7x,
90 % at 2x and 96 % at 3x; people 20-40 px 0 % up to 2x and 78 % at 3x. So the frame
is scaled by ``TARGET_PERSON_PX / min_person_px`` (a small PAL frame is upscaled), and
the longest side is capped at ``max_imgsz`` so a 1080p camera stays affordable; the
cap is logged with the smallest person height the capped size still finds.
"""

from __future__ import annotations

import math

STRIDE = 32  # YOLO input sides are multiples of this
TARGET_PERSON_PX = 96.0


def _side(pixels: float) -> int:
    return max(STRIDE, math.ceil(pixels / STRIDE - 1e-6) * STRIDE)


def auto_input_size(
    width: int, height: int, min_person_px: float, max_side: int
) -> tuple[int, int]:
    """(height, width) of the model input: people of ``min_person_px`` reach
    ``TARGET_PERSON_PX``, the longest side at most ``max_side`` (+ rounding to 32)."""
    scale = TARGET_PERSON_PX / max(min_person_px, 1.0)
    scale = min(scale, max_side / max(width, height, 1))
    return _side(height * scale), _side(width * scale)


def smallest_person_px(width: int, height: int, imgsz: tuple[int, int]) -> float:
    """The person height (camera pixels) an input of ``imgsz`` still finds reliably."""
    scale = min(imgsz[0] / max(height, 1), imgsz[1] / max(width, 1))  # letterboxed
    return TARGET_PERSON_PX / scale


def as_hw(imgsz: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """640 -> (640, 640); [384, 640] -> (384, 640)."""
    if isinstance(imgsz, int):
        return imgsz, imgsz
    return int(imgsz[0]), int(imgsz[1])
