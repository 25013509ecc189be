"""Pre- and post-processing of Ultralytics YOLO exports, without torch.

What Ultralytics' predictor does for a static export (``LetterBox(auto=False)``,
``non_max_suppression``, ``scale_boxes``/``scale_coords``), step for step, so our
detections match its own on the same export: the frame is resized with
``cv2.INTER_LINEAR`` to fit the input and centred on grey (114) padding; the output
``(4 + classes + keypoints*3, anchors)`` holds centre-size boxes, class scores and
decoded keypoints in input pixels; boxes above ``conf`` of a person class go through
class-aware NMS (OpenCV) and back to frame pixels, clipped to the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from edge.detector import Detections
from edge.modelzoo import ModelError

PAD_VALUE = 114
MAX_NMS = 30000  # boxes into NMS at most (the most confident)
MAX_DET = 300  # detections per frame at most (Ultralytics' predict default)


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """What decoding needs to know about an export (Ultralytics' metadata)."""

    imgsz: tuple[int, int]  # (h, w) of the static input
    names: dict[int, str]
    kpt_shape: tuple[int, int] | None  # (keypoints, 2 or 3), None for a box-only model
    stride: int = 32
    task: str = "detect"
    end2end: bool = False

    @classmethod
    def from_metadata(
        cls,
        meta: dict[str, Any],
        input_hw: tuple[int, int],
        task: str | None = None,
        keypoints: int = 0,
    ) -> ExportInfo:
        """From metadata.yaml (or an ONNX file's metadata map, already parsed); the model's
        own input shape and the registry entry fill what an export does not record."""
        names_raw = meta.get("names") or {0: "person"}
        if isinstance(names_raw, list):
            names_raw = dict(enumerate(names_raw))
        names = {int(k): str(v) for k, v in names_raw.items()}
        kpt = meta.get("kpt_shape")
        task = str(meta.get("task") or task or ("pose" if kpt or keypoints else "detect"))
        kpt_shape = None
        if kpt:
            kpt_shape = (int(kpt[0]), int(kpt[1]))
        elif task == "pose":
            kpt_shape = (keypoints or 17, 3)
        if task not in ("pose", "detect"):
            raise ModelError(f"a {task} model cannot detect people; use a pose or detect model")
        size = meta.get("imgsz")
        imgsz = (int(size[0]), int(size[1])) if size else input_hw
        if imgsz != input_hw:
            raise ModelError(f"export metadata says input {imgsz}, the model takes {input_hw}")
        return cls(imgsz, names, kpt_shape, int(meta.get("stride") or 32), task,
                   bool(meta.get("end2end")))  # fmt: skip

    @property
    def channels(self) -> int:
        """Rows of the raw output: box, class scores, keypoints."""
        k = self.kpt_shape[0] * self.kpt_shape[1] if self.kpt_shape else 0
        return 4 + len(self.names) + k


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was placed in the model input: scale per axis and padding."""

    gain_x: float
    gain_y: float
    pad_x: int
    pad_y: int
    frame_hw: tuple[int, int]


def letterbox(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
    """``image`` (H, W, 3 uint8) resized to fit ``size`` (h, w), keeping its aspect, centred
    on grey padding: Ultralytics' ``LetterBox(auto=False, scaleup=True, center=True)``."""
    h0, w0 = image.shape[:2]
    h, w = size
    r = min(h / h0, w / w0)
    new_w, new_h = max(round(w0 * r), 1), max(round(h0 * r), 1)
    dw, dh = (w - new_w) / 2, (h - new_h) / 2
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    img = image
    if (w0, h0) != (new_w, new_h):
        img = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT,
                             value=(PAD_VALUE,) * 3)  # fmt: skip
    return img, Letterbox(new_w / w0, new_h / h0, left, top, (h0, w0))


def to_blob(padded: np.ndarray) -> np.ndarray:
    """A letterboxed BGR uint8 image as the model input: (1, 3, h, w) RGB float32 in 0..1."""
    blob = np.ascontiguousarray(padded[None, :, :, ::-1].transpose(0, 3, 1, 2), np.float32)
    blob /= 255
    return blob


def decode(
    raw: np.ndarray,
    info: ExportInfo,
    lb: Letterbox,
    conf: float,
    iou: float,
    classes: list[int] | None,
    max_det: int = MAX_DET,
) -> Detections:
    """The raw output of one image, ``(channels, anchors)`` (or with a batch axis of 1),
    to detections in frame pixels, most confident first."""
    pred = raw[0] if raw.ndim == 3 else raw
    if info.end2end:
        raise ModelError("end-to-end (NMS-free) exports are not supported by this runtime; "
                         "use model.backend: ultralytics")  # fmt: skip
    if pred.shape[0] != info.channels:
        raise ModelError(f"model output has {pred.shape[0]} rows per box, expected "
                         f"{info.channels} for {len(info.names)} classes and keypoints "
                         f"{info.kpt_shape}")  # fmt: skip
    nc = len(info.names)
    scores = pred[4 : 4 + nc]
    keep = scores.max(axis=0) > conf
    x = pred[:, keep].T  # (M, channels)
    if not len(x):
        return _empty(info)
    cls_scores = x[:, 4 : 4 + nc]
    cls = cls_scores.argmax(axis=1)
    score = cls_scores[np.arange(len(x)), cls]
    sel = score > conf
    if classes is not None:
        sel &= np.isin(cls, classes)
    x, cls, score = x[sel], cls[sel], score[sel]
    if not len(x):
        return _empty(info)
    if len(x) > MAX_NMS:
        top = np.argsort(-score, kind="stable")[:MAX_NMS]
        x, cls, score = x[top], cls[top], score[top]
    xywh = x[:, :4]
    tlwh = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, 2:]], axis=1)
    picked = cv2.dnn.NMSBoxesBatched(tlwh.tolist(), score.tolist(), cls.tolist(), 0.0, iou)
    idx = np.asarray(picked, dtype=np.int64).reshape(-1)[:max_det]
    x, cls, score = x[idx], cls[idx], score[idx]
    xyxy = np.empty((len(x), 4), np.float32)
    xyxy[:, :2] = x[:, :2] - x[:, 2:4] / 2
    xyxy[:, 2:] = x[:, :2] + x[:, 2:4] / 2
    h0, w0 = lb.frame_hw
    xyxy[:, [0, 2]] = ((xyxy[:, [0, 2]] - lb.pad_x) / lb.gain_x).clip(0, w0)
    xyxy[:, [1, 3]] = ((xyxy[:, [1, 3]] - lb.pad_y) / lb.gain_y).clip(0, h0)
    kpts = None
    if info.kpt_shape is not None:
        kpts = x[:, 4 + nc :].reshape(len(x), *info.kpt_shape).astype(np.float32)
        kpts[..., 0] = ((kpts[..., 0] - lb.pad_x) / lb.gain_x).clip(0, w0)
        kpts[..., 1] = ((kpts[..., 1] - lb.pad_y) / lb.gain_y).clip(0, h0)
    return Detections(xyxy, score.astype(np.float32), cls.astype(np.float32), kpts)


def _empty(info: ExportInfo) -> Detections:
    dets = Detections.empty()
    if info.kpt_shape is not None:
        dets.keypoints = np.zeros((0, *info.kpt_shape), np.float32)
    return dets
