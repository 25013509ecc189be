"""What the OpenVINO and ONNX Runtime detectors share: sizes, classes, letterbox, decode.

A runtime subclass loads one static export per input size (``_load``) and starts one
inference on it (``_start``), calling back with the raw output. ``submit`` returns a
``Future`` of the frame's ``Detections`` at once (the inference runs on the runtime's
threads: several frames, cameras and the caller's own work overlap); ``detect`` waits
for it. A result that does not come within ``INFER_TIMEOUT_S`` is an error, never a
silent stall.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import DEFAULT_MIN_PERSON_PX, ModelConfig
from edge.detector import LOW_CONF, Detections
from edge.inputsize import as_hw, auto_input_size
from edge.modelzoo import ModelError, entry_for
from edge.runtime.prepost import ExportInfo, Letterbox, decode, letterbox

log = logging.getLogger(__name__)

INFER_TIMEOUT_S = 60.0


def wait(future: Future[Detections]) -> Detections:
    """The detections of a submitted frame; ModelError when the runtime stalls."""
    try:
        return future.result(timeout=INFER_TIMEOUT_S)
    except FutureTimeout:
        raise ModelError(f"inference gave no result within {INFER_TIMEOUT_S:.0f} s") from None


@dataclass
class LoadedModel:
    """One compiled static export: its input size, what its output holds, the handle."""

    path: Path
    info: ExportInfo
    handle: Any  # the runtime's own object(s)

    @property
    def size(self) -> tuple[int, int]:
        return self.info.imgsz


class ExportDetector:
    """A detector over static exports, one per input size, shared by every camera."""

    backend = ""

    def __init__(self, cfg: ModelConfig) -> None:
        self.cfg = cfg
        self.fixed = None if cfg.imgsz == "auto" else as_hw(cfg.imgsz)
        entry = entry_for(cfg.weights)
        self.person_classes: list[int] = list(entry.person_classes) if entry else [0]
        self.keypoints = len(entry.keypoints) if entry else 0
        self.task = entry.task if entry else None
        self.conf = min(cfg.conf, LOW_CONF)  # low boxes may continue a track (tracker)
        self._by_size: dict[tuple[int, int], LoadedModel] = {}
        self._by_path: dict[Path, LoadedModel] = {}
        self._lock = threading.Lock()
        self._warned: set[tuple[int, int]] = set()
        self.path: Path | None = None
        if self.fixed is not None:  # load (and export) now: a broken model fails at start
            self.path = self.model_for(self.fixed).path

    # -- for subclasses ------------------------------------------------------------------
    def _path_for(self, size: tuple[int, int]) -> Path:
        raise NotImplementedError

    def _load(self, path: Path) -> LoadedModel:
        raise NotImplementedError

    def _start(
        self,
        model: LoadedModel,
        padded: np.ndarray,
        done: Callable[[np.ndarray], None],
        fail: Callable[[BaseException], None],
    ) -> None:
        """Start one inference of the letterboxed BGR ``padded``; ``done(raw)`` with the
        raw output (valid during the call only), or ``fail(exc)``."""
        raise NotImplementedError

    # -- the Detector interface ----------------------------------------------------------
    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The input size used when the caller names none: the fixed one, or derived
        from the frame with the default ``min_person_px``."""
        if self.fixed is not None:
            return self.fixed
        return auto_input_size(width, height, DEFAULT_MIN_PERSON_PX, self.cfg.max_imgsz)

    def model_for(self, size: tuple[int, int]) -> LoadedModel:
        """The compiled export for input ``size`` (loaded, or exported, on first use)."""
        model = self._by_size.get(size)
        if model is not None:
            return model
        with self._lock:
            model = self._by_size.get(size)
            if model is None:
                path = self._path_for(size)
                model = self._by_path.get(path)
                if model is None:
                    model = self._by_path[path] = self._load(path)
                    log.info("%s: %s loaded, input %dx%d", self.backend, path, *model.size)
                self._by_size[size] = model
                if self.path is None:
                    self.path = path
        if model.size != size and size not in self._warned:
            self._warned.add(size)
            log.warning("%s is exported for input %dx%d, not %dx%d: using %dx%d",
                        model.path, *model.size, *size, *model.size)  # fmt: skip
        return model

    def submit(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Future[Detections]:
        """Start detecting people in ``image``; the future holds its ``Detections``."""
        model = self.model_for(imgsz or self.input_size(image.shape[1], image.shape[0]))
        padded, lb = letterbox(image, model.size)
        future: Future[Detections] = Future()
        self._start(model, padded, self._finisher(future, model.info, lb), future.set_exception)
        return future

    def _finisher(
        self, future: Future[Detections], info: ExportInfo, lb: Letterbox
    ) -> Callable[[np.ndarray], None]:
        def done(raw: np.ndarray) -> None:
            try:
                dets = decode(raw, info, lb, self.conf, self.cfg.iou, self.person_classes)
            except BaseException as exc:  # handed to whoever waits for the result
                future.set_exception(exc)
            else:
                future.set_result(dets)

        return done

    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        return wait(self.submit(image, imgsz))

    def warmup(self, width: int, height: int, imgsz: tuple[int, int] | None = None) -> None:
        """One inference on a blank frame: loads (exports) and compiles the model for
        ``imgsz``. With an automatic size and none given there is nothing to warm yet:
        each camera's size is known from its first frame (``CameraPipeline.imgsz``)."""
        if imgsz is None and self.fixed is None:
            return
        self.detect(np.zeros((height, width, 3), np.uint8), imgsz)

    def close(self) -> None:
        """Wait for inferences in flight."""
