"""Person detection (Ultralytics YOLO): a BGR frame in, plain ``Detections`` out.

One small seam: a detector turns a frame into ``Detections`` at an input size the
caller chooses (``edge.inputsize`` derives it per camera); ``edge.tracking`` turns
those into ``Track``s with stable ids. Ultralytics' AutoBackend loads every format we
ship (``.pt``, ``.onnx``, ``*_openvino_model/``), so one backend class serves them all;
a new runtime is one new class with ``detect``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.config import DEFAULT_MIN_PERSON_PX, ModelConfig
from edge.inputsize import as_hw, auto_input_size
from edge.modelzoo import ModelError, entry_for, resolve_weights

log = logging.getLogger(__name__)


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


DEFAULT_IMGSZ = (384, 640)  # the export size when no camera asked for another


def materialize_weights(cfg: ModelConfig, imgsz: tuple[int, int] | None = None) -> Path:
    """The weights to load; an OpenVINO export of a registry model is made on first use.

    ``yolo11n-pose_openvino_model`` (the default) is exported once from the fetched
    ``yolo11n-pose.pt`` at ``imgsz`` (else ``cfg.imgsz``, else 384x640) and cached in the
    models folder; another input size gets its own folder
    (``yolo11n-pose_704x928_openvino_model``) so cameras and configs with different
    sizes never overwrite each other's export. Without OpenVINO installed, the PyTorch
    weights serve instead (slower, same counts).
    """
    name = Path(cfg.weights).name
    fixed = None if cfg.imgsz == "auto" else as_hw(cfg.imgsz)
    want = imgsz or fixed or DEFAULT_IMGSZ
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
    cache = exports_cache_dir()
    if (cache / candidates[1]).is_dir() and _export_size(cache / candidates[1]) == want:
        return cache / candidates[1]
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
    if not os.access(pt.parent, os.W_OK):  # an installed, read-only models folder
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / candidates[1]
    log.info("exporting %s to OpenVINO at %dx%d into %s (once)", base, *want, target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export-") as tmp:
        made = export_model(pt, "openvino", want, dest_dir=Path(tmp))
        if target.exists():
            shutil.rmtree(target)
        made.rename(target)
    return target


def exports_cache_dir() -> Path:
    """Where exports go when the models folder is read-only (an installed device):
    $EXTEROS_EXPORTS_DIR, else $STATE_DIRECTORY/models (systemd), else ~/.cache."""
    env = os.environ.get("EXTEROS_EXPORTS_DIR")
    if env:
        return Path(env)
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0]) / "models"
    return Path.home() / ".cache" / "exteros" / "exports"


def _per_size_exports(cfg: ModelConfig) -> bool:
    """True when each input size needs its own file (a registry OpenVINO name)."""
    name = Path(cfg.weights).name
    return name.endswith(OPENVINO_SUFFIX) and not Path(cfg.weights).exists()


def _export_size(folder: Path) -> tuple[int, int] | None:
    """The (h, w) an export was made for, from Ultralytics' metadata.yaml."""
    meta = folder / "metadata.yaml"
    if not meta.is_file():
        return None
    import yaml

    size = (yaml.safe_load(meta.read_text()) or {}).get("imgsz")
    return (int(size[0]), int(size[1])) if isinstance(size, list) and len(size) == 2 else None


class UltralyticsDetector:
    """Any model Ultralytics can load; keeps person classes only.

    One instance serves every camera of a device: each input size asked for gets its
    own loaded model (an OpenVINO export is static, one folder per size; a ``.pt``
    serves all sizes).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        _configure_ultralytics()
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
        if _per_size_exports(self.cfg):
            return name[: -len(OPENVINO_SUFFIX)].removesuffix("_int8") + ".pt"
        return self.cfg.weights

    def _load(self, size: tuple[int, int]) -> tuple[Any, Path]:
        if size in self._models:
            return self._models[size], self.path
        if self._models and not _per_size_exports(self.cfg):
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


def __getattr__(name: str) -> Any:
    # PersonTracker lived here before edge.tracking; keep old imports working
    if name == "PersonTracker":
        from edge.tracking import PersonTracker

        return PersonTracker
    raise AttributeError(name)
