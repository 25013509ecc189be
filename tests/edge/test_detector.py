"""Model resolution and the backend choice.

The default OpenVINO export is made on first use, one per input size, in a child process
(a development install); a device without Ultralytics names the command instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess

import pytest
from pydantic import ValidationError

from edge.config import ModelConfig
from edge.detector import build_detector, choose_backend
from edge.modelzoo import ModelError, materialize_weights, models_dir
from edge.modelzoo import export_size as _export_size


@pytest.fixture
def without(monkeypatch):
    """Make modules look uninstalled (as on a device without the dev extras)."""
    real = importlib.util.find_spec

    def hide(*names: str) -> None:
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name in names else real(name, *a))  # fmt: skip

    return hide


@pytest.mark.parametrize(
    ("model", "backend"),
    [
        ({}, "openvino"),  # the default: yolo11n-pose_openvino_model
        ({"weights": "/x/yolo11n-pose_704x928_openvino_model"}, "openvino"),
        ({"weights": "yolo11n-pose.onnx"}, "onnxruntime"),
        ({"weights": "yolo11n-pose.pt"}, "ultralytics"),
        ({"device": "cuda:0"}, "ultralytics"),
        ({"device": "intel:gpu"}, "openvino"),
        ({"weights": "yolo11n-pose.pt", "backend": "openvino"}, "openvino"),
        ({"backend": "ultralytics"}, "ultralytics"),
    ],
)
def test_backend_choice(model, backend):
    assert choose_backend(ModelConfig(**model)) == backend


def test_auto_without_openvino_falls_back_to_pytorch_or_says_what_to_install(without):
    without("openvino")
    assert choose_backend(ModelConfig()) == "ultralytics"
    without("openvino", "ultralytics")
    with pytest.raises(ModelError, match="needs OpenVINO: pip install openvino"):
        build_detector(ModelConfig())


def test_ultralytics_backend_without_ultralytics_is_one_clear_line(without):
    without("ultralytics")
    with pytest.raises(ModelError, match="pip install ultralytics") as exc:
        build_detector(ModelConfig(weights="yolo11n-pose.pt"))
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"backend": "onnxruntime"}, "backend onnxruntime needs .onnx weights"),
        ({"backend": "openvino", "weights": "m.onnx"}, "backend openvino needs an OpenVINO"),
        ({"backend": "tensorrt"}, "Input should be"),
    ],
)
def test_backend_that_cannot_load_the_weights_is_a_config_error(model, message):
    with pytest.raises(ValidationError, match=message):
        ModelConfig(**model)


def test_missing_export_on_a_device_names_the_export_command(tmp_path, monkeypatch, without):
    """No Ultralytics (a device): a missing size is not exported here; one line says how."""
    without("ultralytics")
    monkeypatch.setenv("EXTEROS_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("EXTEROS_EXPORTS_DIR", str(tmp_path / "cache"))
    with pytest.raises(ModelError) as exc:
        materialize_weights(ModelConfig(), (736, 1280))
    msg = str(exc.value)
    assert "\n" not in msg
    assert "'exteros-edge models export yolo11n-pose.pt --format openvino --imgsz 736,1280'" in msg
    assert str(tmp_path / "yolo11n-pose_736x1280_openvino_model") in msg
    assert not list(tmp_path.iterdir())  # nothing made


def test_an_export_of_the_size_is_found_under_either_name(tmp_path, monkeypatch, without):
    without("ultralytics")
    monkeypatch.setenv("EXTEROS_MODELS_DIR", str(tmp_path))
    for name, size in (("yolo11n-pose_openvino_model", "[384, 640]"),
                       ("yolo11n-pose_736x1280_openvino_model", "[736, 1280]")):  # fmt: skip
        (tmp_path / name).mkdir()
        (tmp_path / name / "metadata.yaml").write_text(f"task: pose\nimgsz: {size}\n")
    assert materialize_weights(ModelConfig()) == tmp_path / "yolo11n-pose_openvino_model"
    assert materialize_weights(ModelConfig(), (736, 1280)) == (
        tmp_path / "yolo11n-pose_736x1280_openvino_model"
    )


@pytest.mark.model
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


@pytest.mark.model
def test_missing_base_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("EXTEROS_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="exteros-edge models fetch yolo11n-pose.pt"):
        materialize_weights(ModelConfig())


@pytest.mark.model
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
