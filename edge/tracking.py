"""The pipeline's tracker: ``PersonTracker`` is the torch-free tracker of ``edge.track``.

Kept as its own name so callers (``edge.pipeline``, ``calibration.people``) need not know
which tracker ``model.tracker`` picks; the trackers and their settings live in
``edge.track``.
"""

from __future__ import annotations

import numpy as np

from edge.config import ModelConfig
from edge.detector import Detections, Track
from edge.track import TRACKERS, Tracker, make_tracker

__all__ = ["TRACKERS", "PersonTracker"]


class PersonTracker:
    """One camera's tracker: ``update(dets, image)`` -> tracks with stable ids."""

    def __init__(
        self, cfg: ModelConfig, process_fps: float, track_conf: float | None = None
    ) -> None:
        self._tracker: Tracker = make_tracker(cfg, process_fps, track_conf)

    @property
    def has_tracks(self) -> bool:
        return self._tracker.has_tracks

    def update(self, dets: Detections, image: np.ndarray | None = None) -> list[Track]:
        return self._tracker.update(dets, image)
