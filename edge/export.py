"""Export a detection model to ONNX or OpenVINO (FP32, INT8) at the camera's aspect ratio.

``exteros-edge models export [NAME] --format onnx|openvino|openvino-int8 --imgsz H,W``

* Exports are static at ``imgsz`` (height, width); 384x640 fits 16:9 cameras and is
  ~1.6x faster than a square 640x640 (measured here). Ultralytics records the size in the
  export's metadata and uses it at predict time, so the config's ``model.imgsz`` does not
  have to match (set it anyway for clarity).
* Outputs land in ``models_dir()`` under Ultralytics' own names, so the detector finds
  the task (pose) from the name and from ``metadata.yaml``::

      yolo11n-pose.onnx
      yolo11n-pose_openvino_model/
      yolo11n-pose_int8_openvino_model/

  An OpenVINO export never replaces one of another input size: when the plain name holds
  another size, it goes to ``yolo11n-pose_736x1280_openvino_model/`` (the name
  ``edge.modelzoo.materialize_weights`` looks for).
* This module imports Ultralytics (torch): only ``exteros-edge models export`` loads it;
  the runtime finds and checks exports with ``edge.modelzoo``.

* INT8 calibrates on frames of a LOCAL video (``--calib-video``), written into a
  temporary Ultralytics dataset (images + yaml). Nothing is downloaded: the dataset yaml
  names only local folders and has no ``download:`` key, and ``YOLO_OFFLINE=1``.
* OpenVINO and NNCF telemetry are opted out before either is imported.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.modelzoo import (
    OPENVINO_SUFFIX,
    ModelError,
    entry_for,
    export_size,
    models_dir,
    opt_out_telemetry,
    resolve_weights,
)

log = logging.getLogger(__name__)

FORMATS = ("onnx", "openvino", "openvino-int8")
DEFAULT_IMGSZ = (384, 640)
CALIB_FRAMES = 120  # frames taken from the calibration video (evenly spaced)

# pip distribution that provides each import needed per format
_NEEDS = {
    "onnx": (("onnx", "onnx"), ("onnxruntime", "onnxruntime")),
    "openvino": (("openvino", "openvino"),),
    "openvino-int8": (("openvino", "openvino"), ("nncf", "nncf")),
}


def parse_imgsz(value: str | int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``"384,640"``, ``"384x640"``, ``640`` or ``[384, 640]`` -> (height, width)."""
    if isinstance(value, int):
        parts: list[int] = [value, value]
    elif isinstance(value, str):
        raw = [p for p in value.replace("x", ",").replace(" ", "").split(",") if p]
        try:
            parts = [int(p) for p in raw]
        except ValueError:
            raise ModelError(f"--imgsz {value!r}: give H,W in pixels, e.g. 384,640") from None
        if len(parts) == 1:
            parts = parts * 2
    else:
        parts = [int(v) for v in value]
    if len(parts) != 2:
        raise ModelError(f"--imgsz {value!r}: give H,W in pixels, e.g. 384,640")
    for s in parts:
        if s < 32 or s % 32:
            raise ModelError(f"--imgsz {value!r}: {s} must be a multiple of 32 and at least 32")
    return parts[0], parts[1]


def _check_installed(fmt: str) -> None:
    missing = [dist for mod, dist in _NEEDS[fmt] if importlib.util.find_spec(mod) is None]
    if missing:
        raise ModelError(
            f"export to {fmt} needs {', '.join(missing)}: "
            f"pip install {' '.join(missing)}  (or: pip install 'exteros[tools]')"
        )


def output_name(stem: str, fmt: str) -> str:
    """Where Ultralytics puts an export of ``stem.pt``; we keep its naming."""
    return {
        "onnx": f"{stem}.onnx",
        "openvino": f"{stem}_openvino_model",
        "openvino-int8": f"{stem}_int8_openvino_model",
    }[fmt]


def _source_weights(name_or_path: str | Path) -> Path:
    path = resolve_weights(str(name_or_path))
    if path.suffix != ".pt":
        raise ModelError(f"export needs PyTorch weights (.pt), got {path}")
    return path


def write_calibration_dataset(
    video: str | Path,
    out_dir: Path,
    frames: int = CALIB_FRAMES,
    kpt_shape: tuple[int, int] = (17, 3),
) -> Path:
    """Take up to ``frames`` evenly spaced frames of a local video into an Ultralytics dataset.

    Returns the dataset yaml. Only local paths, no ``download:`` key: nothing can be fetched.
    """
    import cv2
    import yaml

    video = Path(video)
    if not video.is_file():
        raise ModelError(f"calibration video not found: {video}")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise ModelError(f"cannot read calibration video: {video}")
    images = out_dir / "images" / "val"
    images.mkdir(parents=True, exist_ok=True)
    (out_dir / "labels" / "val").mkdir(parents=True, exist_ok=True)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    step = max(1, total // frames) if total > 0 else 1
    written = idx = 0
    try:
        while written < frames:
            ok, img = cap.read()
            if not ok:
                break
            if idx % step == 0:
                cv2.imwrite(str(images / f"f{idx:06d}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
                written += 1
            idx += 1
    finally:
        cap.release()
    if written == 0:
        raise ModelError(f"calibration video has no readable frames: {video}")
    data = {
        "path": str(out_dir),
        "train": "images/val",
        "val": "images/val",
        "names": {0: "person"},
        "kpt_shape": list(kpt_shape),
        # left/right keypoint swap for flips (unused for calibration, but validated)
        "flip_idx": [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15],
    }
    if kpt_shape[0] != 17:
        data["flip_idx"] = list(range(kpt_shape[0]))
    yaml_path = out_dir / "calib.yaml"
    yaml_path.write_text(yaml.safe_dump(data, sort_keys=False))
    log.info("INT8 calibration: %d frames of %s", written, video)
    return yaml_path


@contextlib.contextmanager
def _offline_env() -> Iterator[None]:
    """Nothing leaves the machine during an export.

    * ``YOLO_OFFLINE=1``: no connectivity probe, no analytics, no pip auto-install;
    * Ultralytics' dataset check (INT8 calibration) calls ``check_font("Arial.ttf")``, which
      HEADs and downloads the font from GitHub even when offline; fonts only matter for
      plots, so it is a no-op here;
    * OpenVINO/NNCF telemetry opted out.
    """
    from edge.runtime.ultralytics import configure_ultralytics

    old = os.environ.get("YOLO_OFFLINE")
    os.environ["YOLO_OFFLINE"] = "1"
    configure_ultralytics()
    opt_out_telemetry()
    import ultralytics.data.utils as data_utils

    saved_font = data_utils.check_font
    data_utils.check_font = _no_font
    try:
        yield
    finally:
        data_utils.check_font = saved_font
        if old is None:
            os.environ.pop("YOLO_OFFLINE", None)
        else:
            os.environ["YOLO_OFFLINE"] = old


def _no_font(font: str = "Arial.ttf") -> None:
    return None


def export_model(
    name_or_path: str | Path,
    fmt: str,
    imgsz: tuple[int, int] | str | int = DEFAULT_IMGSZ,
    calib_video: str | Path | None = None,
    dest_dir: Path | None = None,
    calib_frames: int = CALIB_FRAMES,
) -> Path:
    """Export ``.pt`` weights to ``fmt``; returns the file/folder written in ``dest_dir``."""
    if fmt not in FORMATS:
        raise ModelError(f"unknown export format {fmt!r}; choose {', '.join(FORMATS)}")
    h, w = parse_imgsz(imgsz)
    _check_installed(fmt)
    if fmt == "openvino-int8" and not calib_video:
        raise ModelError(
            "openvino-int8 needs --calib-video: a local video from the camera (or any)"
        )
    if calib_video and not Path(calib_video).is_file():
        raise ModelError(f"calibration video not found: {calib_video}")
    src = _source_weights(name_or_path)
    dest_dir = Path(dest_dir) if dest_dir else models_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    entry = entry_for(src.name)
    with _offline_env(), tempfile.TemporaryDirectory(prefix="exteros-export-") as tmp:
        work = Path(tmp)
        pt = work / src.name  # Ultralytics writes next to the weights: do it in a scratch dir
        shutil.copy2(src, pt)
        kwargs: dict[str, Any] = {"imgsz": [h, w], "batch": 1, "device": "cpu", "verbose": False}
        if fmt == "onnx":
            # onnxslim (optional) folds the graph a little; without it the export still works
            slim = importlib.util.find_spec("onnxslim") is not None
            kwargs.update(format="onnx", simplify=slim, dynamic=False)
        else:
            kwargs.update(format="openvino", dynamic=False)
        if fmt == "openvino-int8":
            assert calib_video is not None  # checked at the top
            kpts = (len(entry.keypoints), 3) if entry and entry.keypoints else (17, 3)
            data = write_calibration_dataset(calib_video, work / "calib", calib_frames, kpts)
            kwargs.update(_int8_kwargs(), data=str(data), fraction=1.0)
        from ultralytics import YOLO

        if fmt == "openvino-int8":
            _quiet_nncf()
        model = YOLO(str(pt), task=entry.task) if entry else YOLO(str(pt))
        try:
            produced = Path(model.export(**kwargs))
        except ModelError:
            raise
        except Exception as exc:  # Ultralytics/OpenVINO/NNCF errors -> one line
            raise ModelError(f"export to {fmt} failed: {type(exc).__name__}: {exc}") from exc
        target = _target(dest_dir, output_name(src.stem, fmt), (h, w))
        _replace(produced, target)
    log.info("exported %s -> %s (imgsz %dx%d)", src.name, target, h, w)
    return target


def _target(dest_dir: Path, name: str, size: tuple[int, int]) -> Path:
    """Where an export goes: its plain name, unless that holds an OpenVINO export of
    another input size (then ``NAME_HxW_openvino_model``)."""
    target = dest_dir / name
    if (
        name.endswith(OPENVINO_SUFFIX)
        and target.is_dir()
        and export_size(target)
        not in (
            None,
            size,
        )
    ):
        return dest_dir / f"{name[: -len(OPENVINO_SUFFIX)]}_{size[0]}x{size[1]}{OPENVINO_SUFFIX}"
    return target


def _quiet_nncf() -> None:
    """NNCF logs one INFO line per operation it leaves unquantized: keep warnings only."""
    if importlib.util.find_spec("nncf") is None:
        return
    import nncf  # sets its logger to INFO on import, so import first

    nncf.set_log_level(logging.WARNING)


def _int8_kwargs() -> dict[str, Any]:
    """``quantize=8`` on Ultralytics >= 8.4, ``int8=True`` before."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return {"quantize": 8} if "quantize" in DEFAULT_CFG_DICT else {"int8": True}


def _replace(produced: Path, target: Path) -> None:
    """Move an export into place, replacing an older one only once the new one is complete."""
    staging = target.with_name(target.name + ".new")
    old = target.with_name(target.name + ".old")
    for p in (staging, old):
        _remove(p)
    shutil.move(str(produced), staging)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    _remove(old)


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


def export_main(args: argparse.Namespace) -> int:
    """CLI entry: ``exteros-edge models export``. One clear line on bad input."""
    import sys

    name = getattr(args, "name", None) or "yolo11n-pose.pt"
    fmt = getattr(args, "format", None) or "openvino"
    try:
        imgsz = parse_imgsz(getattr(args, "imgsz", None) or "384,640")
        out = export_model(name, fmt, imgsz, getattr(args, "calib_video", None))
    except ModelError as exc:
        print(f"exteros-edge: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    h, w = imgsz
    print(f"use it with:  model: {{weights: {out.name}, imgsz: [{h}, {w}]}}", file=sys.stderr)
    return 0


__all__ = ["FORMATS", "export_main", "export_model", "opt_out_telemetry", "parse_imgsz"]
