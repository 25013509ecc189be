"""Where people stood in a video: tracked feet points from the edge's own detector.

The events the edge writes carry no positions, so the preview's heatmap runs
the edge's detector and tracker (``edge.detector``) on a video of the camera,
with the same model settings as the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.config import ModelConfig
from edge.sources import VideoFileSource


@dataclass(frozen=True, slots=True)
class Sighting:
    t: float  # seconds since the start of the video
    track_id: int
    x: float  # feet point (bottom centre of the box), pixels
    y: float


def track_feet(
    video: str | Path, model: ModelConfig, every: int = 3
) -> tuple[list[Sighting], tuple[int, int]]:
    """Detect and track people on every ``every``-th frame; (sightings, (width, height))."""
    from edge.detector import PersonTracker, UltralyticsDetector  # heavy: torch

    source = VideoFileSource(video)
    detector = UltralyticsDetector(model)
    tracker = PersonTracker(model, process_fps=source.fps / max(every, 1))
    out: list[Sighting] = []
    for frame in source.frames(stride=max(every, 1)):
        for track in tracker.update(detector.detect(frame.image), frame.image):
            x, y = track.feet
            out.append(Sighting(frame.t, track.track_id, x, y))
    return out, (source.width, source.height)
