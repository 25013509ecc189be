"""Model resolution: the default OpenVINO export is made on first use, one per input size."""

from __future__ import annotations

import shutil

import pytest

from edge.config import ModelConfig
from edge.detector import _export_size, materialize_weights
from edge.modelzoo import ModelError, models_dir

pytestmark = pytest.mark.model


def test_default_export_is_made_once_per_size(tmp_path, monkeypatch):
    shutil.copy(models_dir() / "yolo11n-pose.pt", tmp_path / "yolo11n-pose.pt")
    monkeypatch.setenv("EXTEROS_MODELS_DIR", str(tmp_path))
    wide = materialize_weights(ModelConfig())
    assert wide == tmp_path / "yolo11n-pose_openvino_model"
    assert _export_size(wide) == (384, 640)
    square = materialize_weights(ModelConfig(imgsz=640))
    assert square == tmp_path / "yolo11n-pose_640x640_openvino_model"
    assert _export_size(square) == (640, 640)
    stamp = (wide / "metadata.yaml").stat().st_mtime_ns
    assert materialize_weights(ModelConfig()) == wide  # cached, not exported again
    assert (wide / "metadata.yaml").stat().st_mtime_ns == stamp


def test_missing_base_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("EXTEROS_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="exteros-edge models fetch yolo11n-pose.pt"):
        materialize_weights(ModelConfig())
