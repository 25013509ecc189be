"""The PyTorch/Ultralytics backend (optional): any model Ultralytics loads.

Ultralytics' AutoBackend loads every format we ship (``.pt``, ``.onnx``,
``*_openvino_model/``), so this one class serves them all, at the cost of torch
(+~670 MB and seconds at start). The device paths use ``edge.runtime.openvino`` or
``edge.runtime.onnx``; this one is for ``.pt`` weights, torch devices (CUDA) and as
the reference the parity tests compare against.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import DEFAULT_MIN_PERSON_PX, ModelConfig
from edge.detector import LOW_CONF, Detections
from edge.inputsize import as_hw, auto_input_size
from edge.modelzoo import (
    DEFAULT_IMGSZ,
    OPENVINO_SUFFIX,
    entry_for,
    materialize_weights,
    per_size_exports,
    resolve_weights,
)


def configure_ultralytics() -> None:
    """Offline, quiet, a writable settings folder; passive OpenMP threads."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    # Busy-waiting OpenMP threads starve the decode thread and other cameras on a small
    # box (PyTorch: 45 -> 187 ms per frame with one busy neighbour; 79 ms when passive).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "YOLO_CONFIG_DIR" not in os.environ:
        cfg_dir = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "exteros"
        try:
            cfg_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            cfg_dir = Path("/tmp/exteros-ultralytics")
            cfg_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(cfg_dir)


class UltralyticsDetector:
    """Any model Ultralytics can load; keeps person classes only.

    One instance serves every camera of a device: each input size asked for gets its
    own loaded model (an OpenVINO export is static, one folder per size; a ``.pt``
    serves all sizes).
    """

    backend = "ultralytics"

    def __init__(self, cfg: ModelConfig) -> None:
        configure_ultralytics()
        self.cfg = cfg
        self.fixed = None if cfg.imgsz == "auto" else as_hw(cfg.imgsz)
        entry = entry_for(cfg.weights)
        self.person_classes = list(entry.person_classes) if entry else [0]
        # ultralytics.YOLO per input size; ultralytics ships no type information
        self._models: dict[tuple[int, int], Any] = {}
        self._threads_set = False
        if self.fixed is not None:  # load (and export) now: a broken model fails at start
            self.path = self._load(self.fixed)[1]
        else:  # each camera's size is loaded on its first frame; missing weights fail now
            self.path = resolve_weights(self._base_weights())

    @property
    def model(self) -> Any:
        """The first loaded model (the fixed size's); loads the default size if none yet."""
        if not self._models:
            self._load(DEFAULT_IMGSZ)
        return next(iter(self._models.values()))

    def _base_weights(self) -> str:
        name = Path(self.cfg.weights).name
        if per_size_exports(self.cfg.weights):
            return name[: -len(OPENVINO_SUFFIX)].removesuffix("_int8") + ".pt"
        return self.cfg.weights

    def _load(self, size: tuple[int, int]) -> tuple[Any, Path]:
        if size in self._models:
            return self._models[size], self.path
        if self._models and not per_size_exports(self.cfg.weights):
            model = next(iter(self._models.values()))  # one file serves every size
            self._models[size] = model
            return model, self.path
        from ultralytics import YOLO

        path = materialize_weights(self.cfg, size)
        entry = entry_for(self.cfg.weights) or entry_for(path.name)
        if entry is not None:
            self.person_classes = list(entry.person_classes)
        model = YOLO(str(path), task=entry.task) if entry else YOLO(str(path))
        if not self._models:
            self.path = path
        self._models[size] = model
        return model, path

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The input size used when the caller names none: the fixed one, or derived
        from the frame with the default ``min_person_px``."""
        if self.fixed is not None:
            return self.fixed
        return auto_input_size(width, height, DEFAULT_MIN_PERSON_PX, self.cfg.max_imgsz)

    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        size = imgsz or self.input_size(image.shape[1], image.shape[0])
        model, _ = self._load(size)
        result = model.predict(
            image,
            imgsz=list(size),
            # ByteTrack's second stage keeps a track alive through partial occlusion with
            # low-confidence boxes: hand it those too; new tracks still need cfg.conf+
            conf=min(self.cfg.conf, LOW_CONF),
            iou=self.cfg.iou,
            classes=self.person_classes,
            device=self.cfg.device,
            verbose=False,
        )[0]
        if not self._threads_set:
            # Ultralytics resets torch to cpu_count-1 threads on its first call; on a small
            # box every core helps (measured: 150 -> 90 ms per frame with 2 threads).
            self._set_threads()
        boxes = result.boxes.cpu().numpy()
        kpts = result.keypoints.data.cpu().numpy() if result.keypoints is not None else None
        return Detections(boxes.xyxy.astype(np.float32), boxes.conf.astype(np.float32),
                          boxes.cls.astype(np.float32), kpts)  # fmt: skip

    def _set_threads(self) -> None:
        self._threads_set = True
        if self.path.suffix == ".pt":
            import torch

            torch.set_num_threads(self.cfg.threads or os.cpu_count() or 1)

    def warmup(self, width: int, height: int, imgsz: tuple[int, int] | None = None) -> None:
        """One inference on a blank frame: loads (exports) and compiles the model for
        ``imgsz``. With an automatic size and none given there is nothing to warm yet:
        each camera's size is known from its first frame (``CameraPipeline.imgsz``)."""
        if imgsz is None and self.fixed is None:
            return
        self.detect(np.zeros((height, width, 3), np.uint8), imgsz)
