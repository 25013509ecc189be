"""A short people video and an edge config for running the store device's commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import yaml

# Never in a store device's venv (the `edge` role): PyTorch, Ultralytics, the API server,
# the PostgreSQL driver.
DEVICE_FREE_OF = frozenset({"torch", "ultralytics", "fastapi", "psycopg"})
START = "2020-01-01T09:00:00Z"


def picture(width: int, height: int) -> Any:
    """Two people standing (Ultralytics' sample image, from the development venv)."""
    import ultralytics

    path = Path(ultralytics.__file__).parent / "assets" / "zidane.jpg"
    return cv2.resize(cv2.imread(str(path)), (width, height))


def write_video(path: Path, seconds: float = 2.0, fps: int = 10, size=(1280, 720)) -> Path:
    """A still 720p video (MJPG): the automatic input size is 736x1280, one of the exports
    `make models` and a release carry."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened(), f"cannot write {path}"
    img = picture(*size)
    for _ in range(int(seconds * fps)):
        writer.write(img)
    writer.release()
    return path


def edge_config(tmp: Path) -> dict[str, Any]:
    """The default model (OpenVINO export, automatic input size), one zone over the frame."""
    return {
        "device_id": "test-edge",
        "timezone": "UTC",
        "state_dir": str(tmp / "state"),
        "mqtt": {"enabled": False},
        "model": {"process_fps": 4, "motion_skip": False, "threads": 1},
        "cameras": [
            {
                "camera_id": "cam-a",
                "source": "/dev/video0",
                "zones": [
                    {
                        "location": "store-a",
                        "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
                        "confirm_s": 0.5,
                        "discovery_s": 1.0,
                        "engagement_s": 5.0,
                        "exit_grace_s": 1.0,
                    }
                ],
            }
        ],
    }


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
