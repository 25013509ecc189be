"""Where people stood in a video: tracked feet points from the person detector.

The events the edge writes carry no positions, so the preview's heatmap runs
the detector on a video of the camera itself. All use of the model is in
``track_feet``; when the edge grows a shared detector module this is the one
place to switch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.sources import VideoFileSource


@dataclass(frozen=True, slots=True)
class Sighting:
    t: float  # seconds since the start of the video
    track_id: int | None  # None when the tracker has not confirmed the person yet
    x: float  # feet point (bottom centre of the box), pixels
    y: float


def track_feet(
    video: str | Path,
    weights: str | Path,
    every: int = 3,
    conf: float = 0.25,
    imgsz: int = 640,
    device: str = "cpu",
) -> tuple[list[Sighting], tuple[int, int]]:
    """Run person detection + ByteTrack on every ``every``-th frame; (sightings, (w, h))."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO  # heavy import (torch): only when a heatmap is asked for

    source = VideoFileSource(video)
    model = YOLO(str(weights))
    out: list[Sighting] = []
    for frame in source.frames(stride=max(every, 1)):
        result = model.track(
            frame.image, persist=True, classes=[0], conf=conf, imgsz=imgsz,
            device=device, tracker="bytetrack.yaml", verbose=False,
        )[0]  # fmt: skip
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            continue
        ids = boxes.id.int().tolist() if boxes.id is not None else [None] * len(boxes)
        for (x1, _y1, x2, y2), tid in zip(boxes.xyxy.tolist(), ids, strict=True):
            out.append(Sighting(frame.t, tid, (x1 + x2) / 2, y2))
    return out, (source.width, source.height)
