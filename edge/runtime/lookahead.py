"""Inference started ahead of the frame loop, results taken in frame order.

``CameraPipeline.process`` asks its detector for a frame's detections and then tracks
them; while it does, the runtime could already run the next frames. ``Lookahead``
wraps a detector for that: ``start(image, imgsz)`` submits a frame as soon as it is
read, and the pipeline's later ``detect`` of that same image takes the result. A frame
the pipeline does not ask about (the motion gate skipped it) is ``forget``-ed. With a
detector that cannot ``submit`` (Ultralytics, test doubles) ``start`` does nothing and
``detect`` is the detector's own: the results are the same either way.
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from edge.detector import AsyncDetector, Detections, Detector
from edge.runtime.base import wait


class Lookahead:
    """A ``Detector`` whose frames may have been started earlier with ``start``."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self._async = detector if isinstance(detector, AsyncDetector) else None
        self._pending: dict[int, tuple[np.ndarray, tuple[int, int], Future[Detections]]] = {}
        self.started = 0  # frames submitted ahead
        self.used = 0  # ... whose result the pipeline took

    @property
    def enabled(self) -> bool:
        return self._async is not None

    def start(self, image: np.ndarray, imgsz: tuple[int, int] | None) -> None:
        """Submit ``image`` now (a no-op without async support or a known input size)."""
        if self._async is None or imgsz is None or id(image) in self._pending:
            return
        self._pending[id(image)] = (image, imgsz, self._async.submit(image, imgsz))
        self.started += 1

    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        pending = self._pending.pop(id(image), None)
        if pending is not None and pending[0] is image and pending[1] == imgsz:
            self.used += 1
            return wait(pending[2])
        return self.detector.detect(image, imgsz)

    def forget(self, image: np.ndarray) -> None:
        """The frame is done: drop a result nobody asked for (it completes unseen)."""
        self._pending.pop(id(image), None)

    def warmup(self, width: int, height: int, imgsz: tuple[int, int] | None = None) -> None:
        self.detector.warmup(width, height, imgsz)
