"""Our runtimes (edge/runtime: OpenVINO, ONNX Runtime) against Ultralytics on the same export.

Real video (the CAVIAR corridor clip of the accuracy suite, 384x288 with people 40-140 px
tall), 60 frames, at the default 384x640 input and at 736x1280 (the automatic size of a
720p/1080p camera): the same people (count), boxes with IoU > 0.99, confidences within
0.01 and keypoints within a pixel. Then a replay through each backend gives the same
events, and the asynchronous replay (inference ahead of tracking) the same as one frame
at a time.

Everything here runs OpenVINO at FP32 (``exact_fp32``): on a CPU with AVX-512 BF16 or AMX
OpenVINO's default precision is bf16 for both runtimes, and where the input is scaled (in
our graph, in Ultralytics' numpy) then changes the rounding: boxes agree only to IoU ~0.98
and a replay's tracks can differ. The pre- and post-processing are what is compared.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import EdgeConfig, ModelConfig, load_config
from edge.detector import Detections, Detector
from edge.modelzoo import models_dir
from edge.replay import replay
from edge.runtime.openvino import OpenVINODetector
from edge.runtime.ultralytics import UltralyticsDetector

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parents[2]
CLIPS = Path(os.environ.get("EXTEROS_REALCLIPS") or ROOT.parent / "shared/data/realclips")
CLIP = CLIPS / "CAVIAR-EECP1-cor.avi"
ZONES = ROOT / "bench" / "realclips" / "CAVIAR-EECP1-cor.yaml"
FRAMES = 60
START = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def exact_fp32(monkeypatch):
    """Every OpenVINO model compiled in these tests, ours and Ultralytics', runs at FP32."""
    import openvino

    compile_model = openvino.Core.compile_model

    def fp32(self, model, device_name=None, config=None, **kw):  # noqa: ANN001, ANN202
        config = dict(config or {})
        if (device_name or "CPU").startswith("CPU"):
            config["INFERENCE_PRECISION_HINT"] = "f32"
        return compile_model(self, model, device_name, config, **kw)

    monkeypatch.setattr(openvino.Core, "compile_model", fp32)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    if not CLIP.is_file():
        pytest.fail(f"{CLIP} is missing (set EXTEROS_REALCLIPS)", pytrace=False)
    cap = cv2.VideoCapture(str(CLIP))
    out = []
    while len(out) < FRAMES * 2:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out[::2]  # every 2nd frame: more movement between them


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two (N, 4) xyxy arrays."""
    lt = np.maximum(a[:, :2], b[:, :2])
    rb = np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def assert_same(ours: list[Detections], ref: list[Detections]) -> int:
    people = 0
    for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert len(a) == len(b), f"frame {i}: {len(a)} vs {len(b)} people ({a.conf} {b.conf})"
        if not len(a):
            continue
        people += len(a)
        # NMS keeps the most confident first: match by order, then check they are one box
        assert (iou(a.xyxy, b.xyxy) > 0.99).all(), (i, a.xyxy, b.xyxy)
        assert np.abs(a.conf - b.conf).max() < 0.01, (i, a.conf, b.conf)
        assert (a.cls == b.cls).all()
        assert a.keypoints is not None and b.keypoints is not None
        assert a.keypoints.shape == b.keypoints.shape == (len(a), 17, 3)
        assert np.abs(a.keypoints[..., :2] - b.keypoints[..., :2]).max() < 1.0
        assert np.abs(a.keypoints[..., 2] - b.keypoints[..., 2]).max() < 0.01
    return people


@pytest.mark.parametrize("size", [(384, 640), (736, 1280)])
def test_openvino_matches_ultralytics(frames, size):
    cfg = ModelConfig(imgsz=list(size))
    ours = OpenVINODetector(cfg)
    ref = UltralyticsDetector(cfg)  # the same export folder, through Ultralytics' AutoBackend
    assert ours.path == ref.path
    assert ours.path.name.endswith("_openvino_model")
    people = assert_same([ours.detect(f) for f in frames], [ref.detect(f) for f in frames])
    assert people >= len(frames)  # the clip has 2-3 people in view: most frames find them


def test_openvino_async_results_are_the_sync_ones(frames):
    """Two streams (THROUGHPUT, replay's setting), 20 frames in flight, results taken
    out of order: the LATENCY detector's detections, frame by frame."""
    cfg = ModelConfig(imgsz=[384, 640])
    sync = OpenVINODetector(cfg)
    ahead = OpenVINODetector(cfg, parallel=2)
    assert ahead.streams == 2 or os.cpu_count() == 1
    futures = [ahead.submit(f) for f in frames[:20]]
    got = [fut.result(timeout=60) for fut in reversed(futures)][::-1]
    assert_same(got, [sync.detect(f) for f in frames[:20]])


def test_onnxruntime_matches_ultralytics(frames, tmp_path):
    from edge.export import export_model
    from edge.runtime.onnx import OnnxDetector

    onnx = export_model(models_dir() / "yolo11n-pose.pt", "onnx", (384, 640), dest_dir=tmp_path)
    cfg = ModelConfig(weights=str(onnx), imgsz=[384, 640])
    ours = OnnxDetector(cfg)
    ref = UltralyticsDetector(cfg)
    assert_same([ours.detect(f) for f in frames], [ref.detect(f) for f in frames])


def _events(cfg: EdgeConfig, detector: Detector | None) -> list[dict]:
    class Collect:
        def __init__(self) -> None:
            self.payloads: list[dict] = []

        def emit(self, msg) -> None:
            self.payloads.append(msg.model_dump(mode="json"))

    out = Collect()
    report = replay(CLIP, cfg, START, [out], detector=detector, progress=False)
    assert report.stats.inferred > 50
    assert report.first_frame_s is not None and report.first_frame_s > 0
    return out.payloads


class OneAtATime:
    """A detector without ``submit``: replay runs it frame by frame, nothing ahead."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def detect(self, image: np.ndarray, imgsz: tuple[int, int] | None = None) -> Detections:
        return self.detector.detect(image, imgsz)

    def warmup(self, width: int, height: int, imgsz: tuple[int, int] | None = None) -> None:
        self.detector.warmup(width, height, imgsz)


def test_replay_events_are_the_same_on_every_backend():
    """The default (OpenVINO, inference ahead of tracking) against Ultralytics on the same
    export, and against OpenVINO one frame at a time: identical events."""
    cfg = load_config(ZONES)
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"imgsz": (384, 640)})})
    default = _events(cfg, None)
    assert default, "the corridor clip has visits"
    assert _events(cfg, OneAtATime(OpenVINODetector(cfg.model))) == default
    assert _events(cfg, UltralyticsDetector(cfg.model)) == default
