"""Pre/post-processing (edge/runtime/prepost.py) step for step against Ultralytics' own.

No model: the letterbox is compared pixel for pixel with ``ultralytics.data.augment.
LetterBox`` on frames of many shapes, and the decode (candidates, class-aware NMS,
max_det, scaling back, clipping) with ``non_max_suppression`` + ``scale_boxes`` +
``scale_coords`` on made-up raw outputs full of overlapping boxes.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.modelzoo import ModelError
from edge.runtime.prepost import ExportInfo, decode, letterbox, to_blob

FRAMES = [(288, 384), (720, 1280), (1080, 1920), (810, 1080), (480, 352), (7, 3000), (600, 601)]
SIZES = [(384, 640), (736, 1280), (704, 928), (640, 640), (480, 352)]


@pytest.mark.parametrize("frame_hw", FRAMES)
@pytest.mark.parametrize("size", SIZES)
def test_letterbox_is_ultralytics(frame_hw, size):
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(sum(frame_hw) + sum(size))
    img = rng.integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    ours, lb = letterbox(img, size)
    ref = LetterBox(size, auto=False, stride=32)(image=img)
    assert ours.shape == ref.shape == (*size, 3)
    assert np.array_equal(ours, ref)
    assert lb.frame_hw == frame_hw


def test_blob_is_rgb_in_0_1():
    img = np.zeros((32, 64, 3), np.uint8)
    img[..., 0] = 255  # blue
    blob = to_blob(img)
    assert blob.shape == (1, 3, 32, 64) and blob.dtype == np.float32
    assert blob[0, 2].min() == 1.0 and blob[0, :2].max() == 0.0  # blue is the last channel


def _raw(rng: np.random.Generator, size: tuple[int, int], nc: int, kpts: int, n: int = 2000):
    """A raw output (4 + nc + kpts*3, n): boxes in clusters (NMS has work), some outside
    the padding, scores spread over the thresholds."""
    h, w = size
    centres = rng.uniform([0, 0], [w, h], (12, 2))
    xy = centres[rng.integers(0, 12, n)] + rng.normal(0, 6, (n, 2))
    wh = rng.uniform(8, 220, (n, 2))
    scores = rng.uniform(0, 1, (n, nc)) ** 3
    kp = np.concatenate([rng.uniform(-20, max(h, w) + 20, (n, kpts, 2)),
                         rng.uniform(0, 1, (n, kpts, 1))], axis=2).reshape(n, -1)  # fmt: skip
    return np.concatenate([xy, wh, scores, kp], axis=1).T.astype(np.float32)[None]


def _reference(raw, size, frame_hw, conf, iou, classes, nc, kpt_shape):
    import torch
    from ultralytics.utils import nms, ops

    pred = nms.non_max_suppression(torch.from_numpy(raw.copy()), conf, iou, classes,
                                   max_det=300, nc=nc)[0]  # fmt: skip
    pred[:, :4] = ops.scale_boxes(size, pred[:, :4], frame_hw)
    kp = None
    if kpt_shape:
        kp = ops.scale_coords(size, pred[:, 6:].view(len(pred), *kpt_shape), frame_hw).numpy()
    return pred[:, :4].numpy(), pred[:, 4].numpy(), pred[:, 5].numpy(), kp


@pytest.mark.parametrize(
    ("nc", "kpts", "classes", "size", "frame_hw"),
    [
        (1, 17, [0], (384, 640), (720, 1280)),  # yolo11n-pose, a 16:9 camera
        (1, 17, [0], (736, 1280), (288, 384)),  # upscaled PAL, padding left and right
        (1, 17, [0], (704, 928), (1080, 1920)),
        (2, 0, [0, 1], (640, 640), (480, 640)),  # a detect model with two person classes
        (3, 0, [0, 2], (384, 640), (720, 1280)),  # classes filtered, NMS per class
    ],
)  # fmt: skip
@pytest.mark.parametrize("conf", [0.1, 0.25])
def test_decode_is_ultralytics(nc, kpts, classes, size, frame_hw, conf):
    rng = np.random.default_rng(nc * 100 + kpts + size[0])
    raw = _raw(rng, size, nc, kpts)
    kpt_shape = (kpts, 3) if kpts else None
    info = ExportInfo(size, {i: f"c{i}" for i in range(nc)}, kpt_shape)
    _, lb = letterbox(np.zeros((*frame_hw, 3), np.uint8), size)
    ours = decode(raw, info, lb, conf, 0.7, classes)
    xyxy, score, cls, kp = _reference(raw, size, frame_hw, conf, 0.7, classes, nc, kpt_shape)
    assert len(ours) == len(xyxy) > 10
    np.testing.assert_allclose(ours.xyxy, xyxy, atol=1e-3)
    np.testing.assert_allclose(ours.conf, score, atol=1e-6)
    np.testing.assert_array_equal(ours.cls, cls)
    if kpt_shape:
        assert ours.keypoints is not None
        np.testing.assert_allclose(ours.keypoints, kp, atol=1e-3)
    else:
        assert ours.keypoints is None


def test_decode_keeps_at_most_max_det():
    rng = np.random.default_rng(1)
    size = (640, 640)
    raw = _raw(rng, size, 1, 0, n=5000)
    raw[0, 0] = np.arange(5000) % 80 * 8  # spread out: few overlaps
    raw[0, 1] = np.arange(5000) // 80 * 10
    raw[0, 2:4] = 6
    _, lb = letterbox(np.zeros((640, 640, 3), np.uint8), size)
    dets = decode(raw, ExportInfo(size, {0: "person"}, None), lb, 0.01, 0.7, [0])
    assert len(dets) == 300
    assert (np.diff(dets.conf) <= 0).all()  # most confident first


def test_nothing_above_the_threshold_is_empty_with_keypoint_shape():
    raw = np.zeros((1, 56, 100), np.float32)
    _, lb = letterbox(np.zeros((288, 384, 3), np.uint8), (384, 640))
    dets = decode(raw, ExportInfo((384, 640), {0: "person"}, (17, 3)), lb, 0.1, 0.7, [0])
    assert len(dets) == 0 and dets.keypoints is not None and dets.keypoints.shape == (0, 17, 3)


def test_wrong_output_rows_are_one_clear_error():
    raw = np.zeros((1, 6, 100), np.float32)
    _, lb = letterbox(np.zeros((288, 384, 3), np.uint8), (384, 640))
    with pytest.raises(ModelError, match="6 rows per box, expected 56"):
        decode(raw, ExportInfo((384, 640), {0: "person"}, (17, 3)), lb, 0.1, 0.7, [0])


@pytest.mark.parametrize(
    ("meta", "hw", "message"),
    [
        ({"task": "segment", "names": {0: "person"}}, (384, 640), "segment model cannot"),
        ({"task": "pose", "imgsz": [384, 640]}, (640, 640), "metadata says input"),
    ],
)
def test_unusable_export_metadata(meta, hw, message):
    with pytest.raises(ModelError, match=message):
        ExportInfo.from_metadata(meta, hw)


def test_metadata_fills_gaps_from_the_registry():
    info = ExportInfo.from_metadata({}, (384, 640), task="pose", keypoints=17)
    assert info.kpt_shape == (17, 3) and info.names == {0: "person"} and info.channels == 56
    meta = {"task": "pose", "imgsz": [384, 640], "names": {0: "person"}, "kpt_shape": [17, 3],
            "stride": 32}  # fmt: skip
    assert ExportInfo.from_metadata(meta, (384, 640)).channels == 56
