"""Where people stood in a video: tracked feet points from the edge's own detector.

The events the edge writes carry no positions, so the preview's heatmap runs
the edge's detector and tracker (``edge.detector``) on a video of the camera,
with the same model settings as the config.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from edge.config import CameraConfig, ModelConfig
from edge.geometry import PixelPolygon
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
    from edge.detector import build_detector  # loads the inference runtime
    from edge.tracking import PersonTracker

    source = VideoFileSource(video)
    detector = build_detector(model)
    tracker = PersonTracker(model, process_fps=source.fps / max(every, 1))
    out: list[Sighting] = []
    for frame in source.frames(stride=max(every, 1)):
        for track in tracker.update(detector.detect(frame.image), frame.image):
            x, y = track.feet
            out.append(Sighting(frame.t, track.track_id, x, y))
    return out, (source.width, source.height)


def by_track(sightings: Iterable[Sighting]) -> dict[int, list[Sighting]]:
    """Sightings grouped by track id, each in time order."""
    tracks: dict[int, list[Sighting]] = {}
    for s in sorted(sightings, key=lambda s: s.t):
        tracks.setdefault(s.track_id, []).append(s)
    return tracks


def people_per_zone(
    tracks: dict[int, list[Sighting]], camera: CameraConfig, width: int, height: int
) -> dict[str, int]:
    """How many tracked people had their feet inside each zone at least once."""
    counts: dict[str, int] = {}
    for zone in camera.zones:
        poly = PixelPolygon(zone.polygon, width, height)
        counts[zone.location] = sum(
            any(poly.contains(s.x, s.y) for s in seq) for seq in tracks.values()
        )
    return counts
