"""Person detection: a BGR frame in, plain ``Detections`` out, behind one small seam.

A detector turns a frame into ``Detections`` at an input size the caller chooses
(``edge.inputsize`` derives it per camera); ``edge.tracking`` turns those into
``Track``s with stable ids. The runtimes live in ``edge.runtime`` (one file each):
OpenVINO and ONNX Runtime run Ultralytics' exports directly with our own letterbox,
decode and NMS (no torch); the Ultralytics backend (PyTorch) loads any format.
``build_detector`` picks one from ``model.backend``.
"""

from __future__ import annotations

import importlib.util
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from edge.config import ModelConfig
from edge.modelzoo import ModelError

log = logging.getLogger(__name__)

LOW_CONF = 0.1  # boxes down to this confidence may continue an existing track
BACKENDS = ("openvino", "onnxruntime", "ultralytics")


@dataclass(slots=True)
class Detections:
    xyxy: np.ndarray  # (N, 4) float32 pixels
    conf: np.ndarray  # (N,)
    cls: np.ndarray  # (N,)
    keypoints: np.ndarray | None  # (N, K, 3) x, y, confidence, or None for box-only models
    appearance: np.ndarray | None = None  # (N, D) colour descriptors (edge.appearance)

    def __len__(self) -> int:
        return len(self.conf)

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                          np.zeros(0, np.float32), None)  # fmt: skip


@dataclass(slots=True)
class Track:
    track_id: int
    xyxy: tuple[float, float, float, float]
    conf: float
    keypoints: np.ndarray | None  # (K, 3)
    appearance: np.ndarray | None = None  # (D,) colour descriptor of the box

    @property
    def feet(self) -> tuple[float, float]:
        x1, _, x2, y2 = self.xyxy
        return (x1 + x2) / 2.0, y2

    def ground(self, view: str = "angled") -> tuple[float, float]:
        """The floor point zones are tested on: the feet for an angled camera; for a
        camera looking straight down the box centre (from above, the box bottom is the
        far side of the body, not the feet)."""
        if view == "overhead":
            x1, y1, x2, y2 = self.xyxy
            return (x1 + x2) / 2.0, (y1 + y2) / 2.0
        return self.feet

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]


class Detector(Protocol):
    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        """People in ``image``; ``imgsz`` (height, width) is the model input size to use,
        None for the detector's own choice."""
        ...

    def warmup(self, width: int, height: int, imgsz: tuple[int, int] | None = None) -> None: ...


@runtime_checkable
class AsyncDetector(Detector, Protocol):
    """A detector that can start a frame and return at once (OpenVINO, ONNX Runtime)."""

    def submit(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Future[Detections]:
        """Start detecting people in ``image``; the future holds its ``Detections``."""
        ...


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def choose_backend(cfg: ModelConfig) -> str:
    """The runtime for a config: ``model.backend``, or for ``auto`` OpenVINO for an
    OpenVINO export when installed, ONNX Runtime for ``.onnx``, Ultralytics for ``.pt``
    and for a torch device."""
    if cfg.backend != "auto":
        return cfg.backend
    name = Path(cfg.weights).name
    if not (cfg.device == "cpu" or cfg.device.startswith("intel:")):
        return "ultralytics"  # cuda:0, mps: torch devices
    if name.endswith(".onnx"):
        return "onnxruntime"
    if name.endswith(".pt"):
        return "ultralytics"
    if _installed("openvino"):
        return "openvino"
    if _installed("ultralytics"):
        return "ultralytics"  # the .pt behind the export serves (materialize_weights)
    raise ModelError(f"model {cfg.weights!r} needs OpenVINO: pip install openvino")


def build_detector(cfg: ModelConfig, parallel: int = 1) -> Detector:
    """The detector for a model config (see ``choose_backend``); a missing runtime or
    model fails here with one line. ``parallel``: frames the caller keeps in flight (the
    OpenVINO runtime sizes its streams for it)."""
    backend = choose_backend(cfg)
    if backend == "openvino":
        if not _installed("openvino"):
            raise ModelError("model.backend openvino needs OpenVINO: pip install openvino")
        from edge.runtime.openvino import OpenVINODetector

        return OpenVINODetector(cfg, parallel)
    if backend == "onnxruntime":
        if not _installed("onnxruntime"):
            raise ModelError("model.backend onnxruntime needs ONNX Runtime: "
                             "pip install onnxruntime")  # fmt: skip
        from edge.runtime.onnx import OnnxDetector

        return OnnxDetector(cfg)
    if not _installed("ultralytics"):
        raise ModelError(
            f"model {cfg.weights!r} needs the ultralytics backend (PyTorch), which is not "
            "installed (pip install ultralytics); or use an OpenVINO export "
            "(model.weights: yolo11n-pose_openvino_model)"
        )
    from edge.runtime.ultralytics import UltralyticsDetector

    return UltralyticsDetector(cfg)
