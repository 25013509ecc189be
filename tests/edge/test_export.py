"""Model export (edge/export.py): ONNX / OpenVINO FP32 / OpenVINO INT8 at the camera aspect.

The model tests export at a small portrait size (480x352, the aspect of Ultralytics'
``bus.jpg``) to keep them quick, load the result through the real detector and check
it still finds the 4 people of ``bus.jpg`` with keypoints. INT8 calibrates on a few
frames of a local video while any attempt to reach the network is recorded.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import ModelConfig
from edge.export import export_main, export_model, output_name, parse_imgsz
from edge.modelzoo import models_dir

os.environ.setdefault("YOLO_OFFLINE", "1")

WEIGHTS = models_dir() / "yolo11n-pose.pt"
SMALL = (480, 352)  # H, W: bus.jpg is 810x1080 (portrait)


@pytest.fixture(scope="module")
def weights() -> Path:
    """The fetched PyTorch weights; a missing file fails the test (``make test`` fetches it)."""
    if not WEIGHTS.exists():
        pytest.fail(
            f"{WEIGHTS} is missing: run `make models` (or `exteros-edge models fetch "
            "yolo11n-pose.pt`) before the model tests",
            pytrace=False,
        )
    return WEIGHTS


needs_weights = pytest.mark.usefixtures("weights")


def _has(mod: str) -> bool:
    return importlib.util.find_spec(mod) is not None


def _bus() -> np.ndarray:
    import ultralytics

    return cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))


def _args(**kw) -> argparse.Namespace:
    base = {"name": "yolo11n-pose.pt", "format": "openvino", "imgsz": "384,640",
            "calib_video": None}  # fmt: skip
    base.update(kw)
    return argparse.Namespace(**base)


# -- input checks (no model) -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("384,640", (384, 640)), ("384x640", (384, 640)), ("640", (640, 640)), (320, (320, 320)),
     ([384, 640], (384, 640))],
)  # fmt: skip
def test_parse_imgsz(value, expected):
    assert parse_imgsz(value) == expected


@pytest.mark.parametrize("value", ["383,640", "abc", "384,640,3", "0,640", "16"])
def test_bad_imgsz_is_one_clear_line(value, capsys):
    assert export_main(_args(imgsz=value)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("exteros-edge: error: --imgsz")


def test_missing_openvino_is_one_clear_line(monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a)
    )
    assert export_main(_args(format="openvino")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "needs openvino" in err[0] and "pip install openvino" in err[0]


def test_int8_needs_a_calibration_video(capsys):
    if not (_has("openvino") and _has("nncf")):
        pytest.skip("openvino/nncf not installed")
    assert export_main(_args(format="openvino-int8")) == 2
    assert "--calib-video" in capsys.readouterr().err


def test_missing_calibration_video(tmp_path, capsys):
    if not (_has("openvino") and _has("nncf")):
        pytest.skip("openvino/nncf not installed")
    assert export_main(_args(format="openvino-int8", calib_video=str(tmp_path / "no.mp4"))) == 2
    assert "calibration video not found" in capsys.readouterr().err


def test_unknown_model_is_one_clear_line(capsys):
    assert export_main(_args(name="nope.pt")) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_output_names_keep_the_model_name():
    # the detector finds the task from the name (and metadata.yaml): keep 'yolo11n-pose'
    assert output_name("yolo11n-pose", "onnx") == "yolo11n-pose.onnx"
    assert output_name("yolo11n-pose", "openvino") == "yolo11n-pose_openvino_model"
    assert output_name("yolo11n-pose", "openvino-int8") == "yolo11n-pose_int8_openvino_model"


# -- real exports ----------------------------------------------------------------------------
@pytest.fixture
def no_network(monkeypatch):
    """Record (and refuse) every attempt to resolve or connect to a network host."""
    attempts: list[str] = []

    def refuse_resolve(host, *a, **kw):
        attempts.append(f"getaddrinfo {host}")
        raise OSError("network disabled in this test")

    real_connect = socket.socket.connect

    def refuse_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(f"connect {address}")
            raise OSError("network disabled in this test")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", refuse_resolve)
    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    return attempts


def _detect_bus(weights: str | Path, imgsz=SMALL):
    from edge.runtime.ultralytics import UltralyticsDetector

    det = UltralyticsDetector(ModelConfig(weights=str(weights), imgsz=list(imgsz)))
    assert det.model.task == "pose"
    return det.detect(_bus())


@pytest.fixture(scope="module")
def reference(weights):
    """The PyTorch model at the same input size: what an export must reproduce."""
    return _detect_bus(weights)


def _assert_bus_people(dets, ref, tol_px: float = 6.0) -> None:
    assert len(dets) == 4, f"found {len(dets)} people in bus.jpg: conf {dets.conf}"
    assert dets.keypoints is not None and dets.keypoints.shape == (4, 17, 3)
    # two people in full view have a confident skeleton with a wrist
    assert ((dets.keypoints[:, :, 2] > 0.5).sum(axis=1) >= 10).sum() >= 2
    assert (dets.keypoints[:, [9, 10], 2] > 0.5).any(axis=1).sum() >= 2
    # same people, same boxes as PyTorch (within a few pixels of a 1080-row image)
    for box in ref.xyxy:
        assert np.abs(dets.xyxy - box).max(axis=1).min() <= tol_px, (box, dets.xyxy)


@pytest.mark.model
@needs_weights
def test_openvino_export_via_cli_lands_in_models_dir(tmp_path, monkeypatch, no_network, reference):
    if not _has("openvino"):
        pytest.skip("openvino not installed")
    from edge.cli import main

    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(WEIGHTS, models / WEIGHTS.name)
    monkeypatch.setenv("EXTEROS_MODELS_DIR", str(models))
    assert main(["models", "export", "--format", "openvino", "--imgsz", "480,352"]) == 0
    out = models / "yolo11n-pose_openvino_model"
    assert (out / "yolo11n-pose.xml").is_file()
    meta = (out / "metadata.yaml").read_text()
    assert "task: pose" in meta
    assert not list(models.glob("*.new")) and not list(models.glob("*.old"))
    # by registry name, resolved in models_dir(), task from the name
    _assert_bus_people(_detect_bus("yolo11n-pose_openvino_model"), reference)
    # the torch-free runtime on the same export
    from edge.runtime.openvino import OpenVINODetector

    ov = OpenVINODetector(ModelConfig(weights="yolo11n-pose_openvino_model", imgsz=list(SMALL)))
    _assert_bus_people(ov.detect(_bus()), reference)
    # another size never replaces it: it lands under the per-size name
    stamp = (out / "metadata.yaml").stat().st_mtime_ns
    assert main(["models", "export", "--format", "openvino", "--imgsz", "320,256"]) == 0
    assert (out / "metadata.yaml").stat().st_mtime_ns == stamp
    sized = models / "yolo11n-pose_320x256_openvino_model"
    assert "imgsz:\n- 320\n- 256" in (sized / "metadata.yaml").read_text()
    assert no_network == []


@pytest.mark.model
@needs_weights
def test_onnx_export_finds_the_bus_people(tmp_path, no_network, reference):
    if not (_has("onnx") and _has("onnxruntime")):
        pytest.skip("onnx/onnxruntime not installed")
    out = export_model(WEIGHTS, "onnx", SMALL, dest_dir=tmp_path)
    assert out == tmp_path / "yolo11n-pose.onnx"
    _assert_bus_people(_detect_bus(out), reference)
    from edge.runtime.onnx import OnnxDetector  # the torch-free runtime on the same file

    _assert_bus_people(OnnxDetector(ModelConfig(weights=str(out))).detect(_bus()), reference)
    assert no_network == []


def ref_boxes(ref) -> np.ndarray:
    """Reference boxes, most confident first."""
    return ref.xyxy[np.argsort(-ref.conf)]


def _calibration_video(path: Path, frames: int = 10) -> Path:
    """A short local video: bus.jpg shifting sideways (people, street, bus)."""
    img = cv2.resize(_bus(), (352, 480))
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (352, 480))
    for i in range(frames):
        m = np.float32([[1, 0, 3 * i], [0, 1, 0]])
        vw.write(cv2.warpAffine(img, m, (352, 480)))
    vw.release()
    return path


@pytest.mark.model
@needs_weights
def test_openvino_int8_export_with_local_calibration(tmp_path, no_network, reference):
    if not (_has("openvino") and _has("nncf")):
        pytest.skip("openvino/nncf not installed")
    video = _calibration_video(tmp_path / "calib.mp4")
    out = export_model(WEIGHTS, "openvino-int8", SMALL, calib_video=video,
                       dest_dir=tmp_path / "models", calib_frames=8)  # fmt: skip
    assert out.name == "yolo11n-pose_int8_openvino_model"
    assert "task: pose" in (out / "metadata.yaml").read_text()
    # int8 weights: the .bin is far smaller than FP32's ~11 MB
    assert (out / "yolo11n-pose.bin").stat().st_size < 6_000_000
    dets = _detect_bus(out)
    # INT8 may lose the person cut by the left edge (conf ~0.5 in FP32), never the others
    assert len(dets) >= 3 and dets.keypoints is not None and dets.keypoints.shape[1:] == (17, 3)
    for box in ref_boxes(reference)[:3]:
        assert np.abs(dets.xyxy - box).max(axis=1).min() <= 20.0, (box, dets.xyxy)
    assert no_network == [], f"the export tried the network: {no_network}"
