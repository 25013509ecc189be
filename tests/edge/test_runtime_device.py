"""The device paths without torch: what ``exteros-edge`` imports, and a device's errors.

Each command runs in a fresh interpreter that reports afterwards which of torch and
Ultralytics got imported: none for check-config, status, flush and (with the default
OpenVINO runtime) replay. A device without Ultralytics that lacks the export for a
camera's input size stops with one line naming the export command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# run edge.cli.main(argv) and print the heavy modules it imported, as the last line
RUNNER = """
import importlib.util, json, sys
if {hide}:  # a device without the dev extras: Ultralytics cannot be found or imported
    real = importlib.util.find_spec
    importlib.util.find_spec = lambda n, *a: None if n == "ultralytics" else real(n, *a)
    sys.modules["ultralytics"] = None
from edge.cli import main
rc = main({argv!r})
loaded = {{m.split(".")[0] for m, mod in sys.modules.items() if mod is not None}}
heavy = sorted(loaded & {{"torch", "ultralytics"}})
print(json.dumps({{"rc": rc, "heavy": heavy}}))
"""


def run_cli(argv: list[str], env: dict[str, str] | None = None, hide: bool = False):
    code = RUNNER.format(argv=argv, hide=hide)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    assert lines, proc.stderr[-2000:]
    return json.loads(lines[-1]), proc


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(f"""
device_id: edge-1
state_dir: {tmp_path / "state"}
mqtt: {{enabled: false}}
model: {{imgsz: [384, 640]}}
cameras:
  - camera_id: cam-1
    source: shop.avi
    zones:
      - location: shelf
        polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
""")
    return path


@pytest.fixture
def video(tmp_path) -> Path:
    path = tmp_path / "shop.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for i in range(20):
        img = np.full((240, 320, 3), 110, np.uint8)
        img[80:200, 40 + 4 * i : 80 + 4 * i] = (40, 40, 160)
        vw.write(img)
    vw.release()
    return path


@pytest.mark.parametrize(
    "command",
    [["check-config", "{config}"], ["status", "--config", "{config}"],
     ["flush", "--config", "{config}", "--timeout", "1"]],
)  # fmt: skip
def test_outbox_and_config_commands_import_no_torch(config, command):
    result, proc = run_cli([c.format(config=config) for c in command])
    assert result == {"rc": 0, "heavy": []}, proc.stderr


@pytest.mark.model
def test_replay_on_the_default_runtime_imports_no_torch(config, video):
    out = video.with_suffix(".jsonl")
    result, proc = run_cli(["replay", str(video), "--config", str(config), "--no-mqtt",
                            "--quiet", "--events-out", str(out)])  # fmt: skip
    assert result == {"rc": 0, "heavy": []}, proc.stderr[-2000:]
    assert "edge.runtime.base openvino:" in proc.stderr  # the model the runtime loaded
    first = [line for line in proc.stderr.splitlines() if "first frame processed" in line]
    assert len(first) == 1 and first[0].rstrip().endswith(" s after start"), proc.stderr


def test_a_device_without_the_export_says_which_command_makes_it(config, video, tmp_path):
    """No Ultralytics, an empty models folder: one line, exit 2, nothing exported."""
    import os

    models = tmp_path / "models"
    models.mkdir()
    env = {**os.environ, "EXTEROS_MODELS_DIR": str(models),
           "EXTEROS_EXPORTS_DIR": str(tmp_path / "exports")}  # fmt: skip
    result, proc = run_cli(["replay", str(video), "--config", str(config), "--no-mqtt",
                            "--quiet"], env=env, hide=True)  # fmt: skip
    assert result == {"rc": 2, "heavy": []}
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, proc.stderr
    assert errors[0].startswith("exteros-edge: error: no OpenVINO export of yolo11n-pose.pt")
    command = "'exteros-edge models export yolo11n-pose.pt --format openvino --imgsz 384,640'"
    assert command in errors[0]
    assert not list(models.iterdir())
