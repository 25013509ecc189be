"""Model resolution: the default OpenVINO export is made on first use, one per input size."""

from __future__ import annotations

import os
import shutil
import subprocess

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


def test_read_only_models_folder_exports_into_the_state_directory(tmp_path, monkeypatch):
    """An installed device: /opt/exteros/models is read-only to the service, so a camera
    size that was not exported at install goes to $STATE_DIRECTORY/models, once."""
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(models_dir() / "yolo11n-pose.pt", models / "yolo11n-pose.pt")
    (tmp_path / "state").mkdir()
    # root ignores permission bits: make the folder truly read-only with a bind mount
    subprocess.run(["mount", "--bind", str(models), str(models)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(models)], check=True)
        assert not os.access(models, os.W_OK)
        monkeypatch.setenv("EXTEROS_MODELS_DIR", str(models))
        monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
        monkeypatch.delenv("EXTEROS_EXPORTS_DIR", raising=False)
        made = materialize_weights(ModelConfig(), (320, 416))
        assert made == tmp_path / "state" / "models" / "yolo11n-pose_320x416_openvino_model"
        assert _export_size(made) == (320, 416)
        assert materialize_weights(ModelConfig(), (320, 416)) == made  # found, not redone
    finally:
        subprocess.run(["umount", str(models)], check=True)
