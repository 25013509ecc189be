"""preview --video: the real person model finds feet, counts people per zone, walking speed."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.calibration.conftest import run_cli

pytestmark = pytest.mark.model


def bus_video(path: Path) -> None:
    """Ultralytics' bus.jpg (4 people) sliding right 4 px a frame at 10 fps: 0.4 m/s below."""
    import ultralytics

    img = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))
    img = cv2.resize(img, (404, 540))  # even sizes for mp4v
    h, w = img.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    for i in range(24):  # 2.4 s: a track confirmed on its second box still spans > 1 s
        m = np.float32([[1, 0, 2 * i], [0, 1, 0]])
        writer.write(cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE))
    writer.release()


def test_heatmap_counts_and_speed_from_a_video(tmp_path: Path):
    video = tmp_path / "bus.mp4"
    bus_video(video)
    cfg = tmp_path / "edge.yaml"
    # The pavement where the people stand; 1 m = 100 px of the 404 px wide frame (2 px/frame).
    cfg.write_text(f"""\
device_id: d
cameras:
  - camera_id: cam-1
    source: {video}
    zones:
      - location: pavement
        polygon: [[0, 0.6], [1, 0.6], [1, 1], [0, 1]]
      - location: sky
        polygon: [[0, 0], [1, 0], [1, 0.1], [0, 0.1]]
    ground_plane:
      image: [[0, 0], [1, 0], [1, 1], [0, 1]]
      floor_m: [[0, 0], [4.03, 0], [4.03, 5.39], [0, 5.39]]
""")
    out = tmp_path / "heat.png"
    res = run_cli("preview", "--config", str(cfg), "--camera", "cam-1", "--video", str(video),
                  "--every", "2", "--out", str(out), timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "tracked people" in res.stdout
    tracked = int(res.stdout.split(" tracked people")[0].rsplit(",", 1)[1])
    assert tracked >= 3, res.stdout
    speed = float(res.stdout.split("walking speed: median ")[1].split(" m/s")[0])
    assert speed == pytest.approx(0.2, abs=0.08), res.stdout  # 2 px/frame * 10 fps / 100 px/m
    img = cv2.imread(str(out))
    assert img.shape[1] == 404
