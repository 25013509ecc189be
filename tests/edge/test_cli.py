"""Bad input through the real CLI: one clear line naming the problem, non-zero exit."""

from __future__ import annotations

import subprocess
import sys

import pytest

GOOD = """\
device_id: edge-madison-01
cameras:
  - camera_id: cam-1
    source: {video}
    zones:
      - location: madison-ave-store
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
"""


def edge(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)  # fmt: skip


@pytest.fixture
def files(tmp_path):
    import cv2
    import numpy as np

    video = tmp_path / "v.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 15, (320, 240))
    for _ in range(5):
        w.write(np.zeros((240, 320, 3), np.uint8))
    w.release()
    good = tmp_path / "good.yaml"
    good.write_text(GOOD.format(video=video))
    return tmp_path, video, good


def one_error_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_check_config_ok(files):
    _, _, good = files
    proc = edge("check-config", str(good))
    assert proc.returncode == 0, proc.stderr
    assert "OK" in proc.stdout


@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        ("device_id: [unclosed\n", ("invalid YAML at line",)),
        (
            GOOD.replace("[[0, 0], [1, 0], [1, 1], [0, 1]]", "[[0, 0], [1, 1]]"),
            ("cameras[0].zones[0].polygon: needs at least 3 points",),
        ),
        (GOOD + "    colour: red\n", ("cameras[0].colour: unknown key",)),
    ],
)
def test_bad_config_in_check_config_and_replay(files, yaml_text, needles):
    tmp, video, _ = files
    cfg = tmp / "bad.yaml"
    cfg.write_text(yaml_text.format(video=video) if "{video}" in yaml_text else yaml_text)
    one_error_line(edge("check-config", str(cfg)), *needles)
    one_error_line(edge("replay", str(video), "--config", str(cfg), "--no-mqtt"), *needles)


def test_missing_and_unreadable_video(files):
    tmp, _, good = files
    one_error_line(edge("replay", str(tmp / "nope.mp4"), "--config", str(good), "--no-mqtt"),
                   "video file not found", "nope.mp4")  # fmt: skip
    junk = tmp / "junk.mp4"
    junk.write_text("this is not a video")
    one_error_line(edge("replay", str(junk), "--config", str(good), "--no-mqtt"), "junk.mp4")


def test_missing_config_unknown_camera_and_bad_start(files):
    tmp, video, good = files
    one_error_line(edge("replay", str(video), "--config", str(tmp / "no.yaml"), "--no-mqtt"),
                   "config file not found")  # fmt: skip
    one_error_line(edge("replay", str(video), "--config", str(good), "--camera", "cam-9",
                        "--no-mqtt"), "camera 'cam-9' is not in the config")  # fmt: skip
    one_error_line(edge("replay", str(video), "--config", str(good), "--start", "yesterday",
                        "--no-mqtt"), "--start")  # fmt: skip


def test_unreachable_camera_is_a_clear_error_for_replay(files):
    _, _, good = files
    one_error_line(edge("replay", "rtsp://127.0.0.1:9/none", "--config", str(good), "--no-mqtt"),
                   "rtsp://127.0.0.1:9/none")  # fmt: skip
