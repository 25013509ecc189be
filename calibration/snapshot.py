"""One still frame per camera, from the same sources the edge reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.config import CameraConfig
from edge.sources import SourceError, grab_one


@dataclass
class Snapshot:
    camera_id: str
    image: np.ndarray | None  # BGR
    error: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        assert self.image is not None
        return self.image.shape[1], self.image.shape[0]


def take(camera: CameraConfig, timeout_s: float = 10.0, image_dir: Path | None = None) -> Snapshot:
    """A frame of the camera; from ``image_dir/<camera_id>.png`` when that exists."""
    if image_dir is not None:
        saved = image_dir / f"{camera.camera_id}.png"
        if saved.is_file():
            img = cv2.imread(str(saved), cv2.IMREAD_COLOR)
            if img is None:
                return Snapshot(camera.camera_id, None, f"cannot read image {saved}")
            return Snapshot(camera.camera_id, img)
    try:
        return Snapshot(camera.camera_id, grab_one(camera.source, timeout_s))
    except SourceError as exc:
        return Snapshot(camera.camera_id, None, str(exc))


def write_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def png_bytes(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("cannot encode PNG")
    return buf.tobytes()
