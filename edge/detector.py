"""Person detection (Ultralytics YOLO) and tracking (Ultralytics ByteTrack).

One small seam: a detector turns a BGR frame into plain ``Detections``; the
tracker turns those into ``Track``s with stable ids. Ultralytics' AutoBackend
loads every format we ship (``.pt``, ``.onnx``, ``*_openvino_model/``), so one
backend class serves them all; a new runtime is one new class with ``detect``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from edge.config import ModelConfig
from edge.modelzoo import WRISTS, ModelError, entry_for, resolve_weights

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Detections:
    xyxy: np.ndarray  # (N, 4) float32 pixels
    conf: np.ndarray  # (N,)
    cls: np.ndarray  # (N,)
    keypoints: np.ndarray | None  # (N, K, 3) x, y, confidence, or None for box-only models

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

    @property
    def feet(self) -> tuple[float, float]:
        x1, _, x2, y2 = self.xyxy
        return (x1 + x2) / 2.0, y2

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]

    def wrists(self, min_conf: float) -> list[tuple[float, float]]:
        if self.keypoints is None or len(self.keypoints) <= max(WRISTS):
            return []
        return [(float(self.keypoints[i, 0]), float(self.keypoints[i, 1]))
                for i in WRISTS if self.keypoints[i, 2] >= min_conf]  # fmt: skip


class Detector(Protocol):
    def detect(self, image: np.ndarray) -> Detections: ...

    def warmup(self, width: int, height: int) -> None: ...


def _configure_ultralytics() -> None:
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


OPENVINO_SUFFIX = "_openvino_model"
LOW_CONF = 0.1  # boxes down to this confidence may continue an existing track


def materialize_weights(cfg: ModelConfig) -> Path:
    """The weights to load; an OpenVINO export of a registry model is made on first use.

    ``yolo11n-pose_openvino_model`` (the default) is exported once from the fetched
    ``yolo11n-pose.pt`` at ``cfg.imgsz`` and cached in the models folder; another input
    size gets its own folder (``yolo11n-pose_640x640_openvino_model``) so configs with
    different sizes never overwrite each other's export. Without OpenVINO installed,
    the PyTorch weights serve instead (slower, same counts).
    """
    name = Path(cfg.weights).name
    want = cfg.imgsz if isinstance(cfg.imgsz, tuple) else (cfg.imgsz, cfg.imgsz)
    if Path(cfg.weights).exists() or not name.endswith(OPENVINO_SUFFIX):
        return resolve_weights(cfg.weights)  # a path the user chose, or a .pt/.onnx name
    stem = name[: -len(OPENVINO_SUFFIX)]
    base = stem.removesuffix("_int8") + ".pt"
    candidates = [name, f"{stem}_{want[0]}x{want[1]}{OPENVINO_SUFFIX}"]
    for cand in candidates:
        try:
            found = resolve_weights(cand)
        except ModelError:
            continue
        if _export_size(found) in (None, want):
            return found
    pt = resolve_weights(base)  # ModelError names the fetch command when it is missing
    if importlib.util.find_spec("openvino") is None:
        log.warning("OpenVINO is not installed: using %s (pip install openvino)", pt)
        return pt
    if "_int8" in name:
        raise ModelError(f"{name} is not exported yet: 'exteros-edge models export "
                         f"{base} --format openvino-int8 --calib-video VIDEO'")  # fmt: skip
    import shutil
    import tempfile

    from edge.export import export_model

    taken = (pt.parent / name).exists()  # the plain name holds an export of another size
    target = pt.parent / (candidates[1] if taken else name)
    log.info("exporting %s to OpenVINO at %dx%d into %s (once)", base, *want, target.name)
    with tempfile.TemporaryDirectory(dir=pt.parent, prefix=".export-") as tmp:
        made = export_model(pt, "openvino", want, dest_dir=Path(tmp))
        if target.exists():
            shutil.rmtree(target)
        made.rename(target)
    return target


def _export_size(folder: Path) -> tuple[int, int] | None:
    """The (h, w) an export was made for, from Ultralytics' metadata.yaml."""
    meta = folder / "metadata.yaml"
    if not meta.is_file():
        return None
    import yaml

    size = (yaml.safe_load(meta.read_text()) or {}).get("imgsz")
    return (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None


class UltralyticsDetector:
    """Any model Ultralytics can load; keeps person classes only."""

    def __init__(self, cfg: ModelConfig) -> None:
        _configure_ultralytics()
        from ultralytics import YOLO

        self.cfg = cfg
        path = materialize_weights(cfg)
        entry = entry_for(cfg.weights) or entry_for(path.name)
        task = entry.task if entry else None
        self.person_classes = list(entry.person_classes) if entry else [0]
        self.model = YOLO(str(path), task=task) if task else YOLO(str(path))
        self.path = path
        self.imgsz = list(cfg.imgsz) if isinstance(cfg.imgsz, tuple) else cfg.imgsz
        self._threads_set = False

    def detect(self, image: np.ndarray) -> Detections:
        result = self.model.predict(
            image,
            imgsz=self.imgsz,
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
            # box every core helps (FACTS: 150 -> 90 ms per frame with 2 threads).
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

    def warmup(self, width: int, height: int) -> None:
        self.detect(np.zeros((height, width, 3), np.uint8))


class _BoxesView:
    """What ByteTrack reads from a detection set: conf, cls, xywh, boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        wh = xyxy[:, 2:4] - xyxy[:, 0:2]
        self.xywh = np.concatenate([xyxy[:, 0:2] + wh / 2, wh], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, idx: np.ndarray) -> _BoxesView:
        return _BoxesView(self.xyxy[idx], self.conf[idx], self.cls[idx])


class PersonTracker:
    """Ultralytics' ByteTrack over our Detections; ``track_buffer`` set in seconds."""

    def __init__(self, cfg: ModelConfig, process_fps: float) -> None:
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        args = IterableSimpleNamespace(
            tracker_type="bytetrack",
            track_high_thresh=max(cfg.conf, 0.25),
            track_low_thresh=LOW_CONF,
            new_track_thresh=max(cfg.conf, 0.3),
            track_buffer=max(1, round(cfg.track_buffer_s * process_fps)),
            match_thresh=0.8,
            fuse_score=True,
        )
        self._tracker = BYTETracker(args)

    @property
    def has_tracks(self) -> bool:
        t = self._tracker
        return bool(t.tracked_stracks or t.lost_stracks)

    def update(self, dets: Detections, image: np.ndarray | None = None) -> list[Track]:
        view = _BoxesView(dets.xyxy, dets.conf, dets.cls)
        rows = self._tracker.update(view, image)
        tracks: list[Track] = []
        for row in rows:
            x1, y1, x2, y2, tid, score, _cls, idx = row[:8]
            kp = dets.keypoints[int(idx)] if dets.keypoints is not None else None
            tracks.append(Track(int(tid), (float(x1), float(y1), float(x2), float(y2)),
                                float(score), kp))  # fmt: skip
        return tracks
