"""Ground plane: zone areas in m² and walking speed in m/s."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import groundplane
from edge.config import parse_config

W, H = 640, 360


def camera():
    cfg = parse_config({"device_id": "d", "cameras": [{"camera_id": "c", "source": "x.mp4",
        "zones": [{"location": "z", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
        # 1 pixel = 1 cm: the frame is 6.39 m x 3.59 m of floor
        "ground_plane": {"image": [[0, 0], [1, 0], [1, 1], [0, 1]],
                         "floor_m": [[0, 0], [6.39, 0], [6.39, 3.59], [0, 3.59]]}}]})  # fmt: skip
    return cfg.cameras[0]


def test_area_of_a_zone():
    cam = camera()
    h = groundplane.homography(cam, W, H)
    assert groundplane.zone_area_m2(cam.zones[0].polygon, h, W, H) == pytest.approx(6.39 * 3.59)
    half = [(0, 0), (0.5, 0), (0.5, 1), (0, 1)]
    assert groundplane.zone_area_m2(half, h, W, H) == pytest.approx(6.39 * 3.59 / 2)


def test_no_ground_plane_no_homography():
    cam = camera().model_copy(update={"ground_plane": None})
    assert groundplane.homography(cam, W, H) is None


def test_walking_speed_ignores_jitter():
    h = groundplane.homography(camera(), W, H)
    rng = np.random.default_rng(1)
    t = np.arange(0, 3, 0.1)
    jitter = rng.normal(0, 3, (len(t), 2))  # pixels
    walking = np.stack([100 + 100 * t, np.full_like(t, 200)], axis=1) + jitter
    assert groundplane.walking_speed(t, walking, h) == pytest.approx(1.0, abs=0.1)
    standing = np.full((len(t), 2), 300.0) + rng.normal(0, 3, (len(t), 2))
    assert groundplane.walking_speed(t, standing, h) < 0.15
    assert groundplane.walking_speed(t[:5], walking[:5], h) is None  # under a second
