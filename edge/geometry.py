"""Polygons: validation of relative polygons and point tests in pixels.

Zones are stored relative to the frame (0..1 of width and height) and turned
into pixels once the frame size is known. Points on the border count as inside,
so a whole-frame polygon holds every pixel of the frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from shapely.geometry import MultiPoint, Polygon
from shapely.validation import explain_validity

Point = tuple[float, float]


def validate_relative_polygon(points: Sequence[Sequence[float]]) -> list[Point]:
    """Check a relative polygon; return it as a list of (x, y). ValueError names the problem."""
    out: list[Point] = []
    for i, p in enumerate(points):
        if len(p) != 2:
            raise ValueError(f"point {i} must be [x, y], got {list(p)!r}")
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"point {i} is not finite: {list(p)!r}")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ValueError(
                f"point {i} {[x, y]!r} is outside 0..1 (coordinates are relative to the frame)"
            )
        out.append((x, y))
    distinct = {p for p in out}
    if len(distinct) < 3:
        raise ValueError(f"needs at least 3 points, got {len(distinct)} distinct")
    if MultiPoint(out).convex_hull.area <= 0:
        raise ValueError("has no area (all points on one line)")
    poly = Polygon(out)
    if not poly.is_valid:
        raise ValueError(f"is self-intersecting ({explain_validity(poly)})")
    return out


class PixelPolygon:
    """A polygon in pixel coordinates with an inclusive point test."""

    __slots__ = ("contour", "points")

    def __init__(self, relative: Sequence[Point], width: int, height: int) -> None:
        # The last pixel row/column is width-1/height-1: scale so that 1.0 maps onto it and
        # a whole-frame polygon covers every pixel.
        sx, sy = max(width - 1, 1), max(height - 1, 1)
        self.points = [(x * sx, y * sy) for x, y in relative]
        self.contour = np.asarray(self.points, dtype=np.float32).reshape(-1, 1, 2)

    def contains(self, x: float, y: float) -> bool:
        import cv2

        return cv2.pointPolygonTest(self.contour, (float(x), float(y)), False) >= 0

    def as_int32(self) -> np.ndarray:
        return np.round(self.contour).astype(np.int32)


def clamp_point(x: float, y: float, width: int, height: int) -> Point:
    """Keep a point (a feet point under a box that touches the frame edge) inside the frame."""
    return min(max(x, 0.0), width - 1.0), min(max(y, 0.0), height - 1.0)


def polygon_area_m2(
    relative: Sequence[Point], homography: np.ndarray, width: int, height: int
) -> float:
    """Floor area of a relative polygon through an image->floor homography, in m²."""
    import cv2

    pix = np.asarray([(x * (width - 1), y * (height - 1)) for x, y in relative], dtype=np.float64)
    floor = cv2.perspectiveTransform(pix.reshape(-1, 1, 2), homography).reshape(-1, 2)
    return float(Polygon(floor).area)
