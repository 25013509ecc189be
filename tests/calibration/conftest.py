"""Fixtures for the calibration tool: a small synthetic camera and its edge config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.broker import free_port, wait_port

WIDTH, HEIGHT = 640, 360
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

CONFIG = """\
# Edge device at Madison Ave (comment kept by the editor)
device_id: edge-madison-01   # the box
timezone: America/New_York
mqtt:
  host: broker.local  # unrelated key, must survive a save
cameras:
  - camera_id: cam-1
    source: {video}
    # zones drawn with exteros-calibrate
    zones:
      - location: madison-ave-store   # whole store
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
        product_areas: [[[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]]]
        exit_grace_s: 3
"""


def scene_frame(i: int = 0) -> np.ndarray:
    """A deterministic frame with some structure (floor, shelf), moving slowly with i."""
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    img[:] = (70, 90, 110)
    img[HEIGHT // 2 :] = (120, 130, 140)  # floor
    cv2.rectangle(img, (40 + i, 60), (240 + i, 170), (30, 60, 160), -1)  # a shelf
    cv2.rectangle(img, (380, 200), (600, 330), (40, 140, 60), -1)  # a table
    return img


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "cam.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (WIDTH, HEIGHT))
    for i in range(10):
        writer.write(scene_frame(i))
    writer.release()
    return path


@pytest.fixture
def config_file(tmp_path: Path, video: Path) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(CONFIG.format(video=video))
    return path


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calibration.cli", *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def editor(config_file: Path):
    """`exteros-calibrate edit` running on a free port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "calibration.cli", "edit", "--config", str(config_file),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        try:
            wait_port(port, timeout_s=30)
        except TimeoutError:
            proc.kill()
            out = proc.communicate()[0]
            pytest.fail(f"the editor did not start:\n{out}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium through Playwright; missing chromium is a failure, not a skip."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(apt-get install -y chromium); CI installs it"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
