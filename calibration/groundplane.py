"""Image -> floor homography from a camera's optional ground plane (four points).

With it a zone has an area in m² and a track a walking speed in m/s. The
homography maps *pixel* coordinates (the convention of ``edge.geometry``: 1.0
relative is the last pixel row/column) to floor metres.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edge.config import CameraConfig
from edge.geometry import polygon_area_m2


def homography(camera: CameraConfig, width: int, height: int) -> np.ndarray | None:
    """3x3 pixel->floor (metres) matrix, or None when the camera has no ground plane."""
    gp = camera.ground_plane
    if gp is None:
        return None
    sx, sy = max(width - 1, 1), max(height - 1, 1)
    img = np.asarray([(x * sx, y * sy) for x, y in gp.image], dtype=np.float32)
    floor = np.asarray(gp.floor_m, dtype=np.float32)
    return cv2.getPerspectiveTransform(img, floor).astype(np.float64)


def relative_homography(h_pix: np.ndarray, width: int, height: int) -> np.ndarray:
    """The same mapping for relative (0..1) image coordinates, for the editor page."""
    scale = np.diag([max(width - 1, 1), max(height - 1, 1), 1.0])
    return h_pix @ scale


def zone_area_m2(
    polygon: Sequence[tuple[float, float]], h_pix: np.ndarray, width: int, height: int
) -> float:
    return polygon_area_m2(polygon, h_pix, width, height)


def to_floor(points_px: np.ndarray, h_pix: np.ndarray) -> np.ndarray:
    """(N, 2) pixel points -> (N, 2) floor points in metres."""
    if len(points_px) == 0:
        return np.zeros((0, 2))
    pts = np.asarray(points_px, dtype=np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(pts, h_pix).reshape(-1, 2)


def walking_speed(
    times: Sequence[float],
    points_px: Sequence[tuple[float, float]] | np.ndarray,
    h_pix: np.ndarray,
    window_s: float = 1.0,
) -> float | None:
    """Mean speed (m/s) of one track, from its feet points, or None if it is too short.

    Feet points jitter by a few pixels between frames; summing raw steps would
    add that jitter as distance, so positions are averaged over ``window_s``
    first and the speed is the smoothed path length over the time it covers.
    """
    t = np.asarray(times, dtype=np.float64)
    if len(t) < 3 or t[-1] - t[0] < window_s:
        return None
    floor = to_floor(np.asarray(points_px, dtype=np.float64), h_pix)
    half = window_s / 2
    smooth = np.array([floor[np.abs(t - ti) <= half].mean(axis=0) for ti in t])
    keep = (t - t[0] >= half) & (t[-1] - t >= half)  # full windows only
    if keep.sum() < 2:
        return None
    s, ts = smooth[keep], t[keep]
    dist = float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum())
    return dist / float(ts[-1] - ts[0])
