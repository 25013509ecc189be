"""OpenVINO runtime: Ultralytics' OpenVINO exports run directly, without torch.

Each input size has its own static export (``edge.modelzoo.materialize_weights``),
compiled once and shared by every camera of that size. The colour order, layout and
scaling of the input are compiled into the model (OpenVINO's ``PrePostProcessor``), so a
letterboxed BGR frame goes in as it is and the conversion runs on OpenVINO's threads.
Requests go through an ``AsyncInferQueue``: a frame is submitted while others are still
running, and results come back through its callback.

``parallel`` is how many frames the caller keeps in flight. One (a single live camera):
the ``LATENCY`` hint, one stream using every core per frame. More (replay's look-ahead,
several cameras): ``THROUGHPUT`` with that many streams (at most one per core), each
frame on its share of the cores: on 2 cores 3-20 % less CPU per frame than one frame at a
time, and from the same frames/s (idle machine) up to 1.8x (busy one); see
docs/architecture.md.
"""

from __future__ import annotations

import atexit
import logging
import os
import platform
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import ModelConfig
from edge.modelzoo import (
    ModelError,
    export_metadata,
    materialize_weights,
    opt_out_telemetry,
    per_size_exports,
    resolve_weights,
)
from edge.runtime.base import ExportDetector, LoadedModel
from edge.runtime.prepost import ExportInfo

log = logging.getLogger(__name__)

# An AsyncInferQueue still alive while the interpreter shuts down aborts the process
# ("terminate called without an active exception", about half the time here): every
# detector is closed before that.
_LIVE: weakref.WeakSet[OpenVINODetector] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for det in list(_LIVE):
        det.close()


def ov_device(device: str) -> str:
    """``cpu`` -> CPU, ``intel:gpu`` -> GPU; anything else is no OpenVINO device."""
    if device == "cpu":
        return "CPU"
    if device.startswith("intel:") and len(device) > 6:
        return device[6:].upper()
    raise ModelError(f"model.device {device!r} is not an OpenVINO device (cpu, intel:gpu, "
                     "intel:npu); set model.backend: ultralytics for a torch device")  # fmt: skip


def openvino_weights(cfg: ModelConfig) -> ModelConfig:
    """The config with ``.pt`` weights named by their per-size OpenVINO exports."""
    name = Path(cfg.weights).name
    if name.endswith(".pt"):
        return cfg.model_copy(update={"weights": name[:-3] + "_openvino_model"})
    return cfg


class OpenVINODetector(ExportDetector):
    """Person detection with the ``openvino`` runtime; one compiled model per input size."""

    backend = "openvino"

    def __init__(self, cfg: ModelConfig, parallel: int = 1) -> None:
        opt_out_telemetry()  # before openvino is imported
        import openvino as ov

        self._ov = ov
        self._core = ov.Core()
        self._device = ov_device(cfg.device)
        cores = cfg.threads or os.cpu_count() or 1
        self.streams = max(1, min(parallel, cores))
        _LIVE.add(self)
        super().__init__(openvino_weights(cfg))

    def _path_for(self, size: tuple[int, int]) -> Path:
        if per_size_exports(self.cfg.weights):
            path = materialize_weights(self.cfg, size)
        else:
            path = resolve_weights(self.cfg.weights)
        if path.suffix == ".pt":  # materialize_weights without OpenVINO: cannot happen here
            raise ModelError(f"{path} is not an OpenVINO export")
        return path

    def _load(self, path: Path) -> LoadedModel:
        ov = self._ov
        from openvino.preprocess import ColorFormat, PrePostProcessor

        xml = path if path.is_file() else next(iter(sorted(path.glob("*.xml"))), None)
        if xml is None or xml.suffix != ".xml":
            raise ModelError(f"no OpenVINO model (.xml) in {path}")
        try:
            model = self._core.read_model(str(xml))
        except RuntimeError as exc:
            raise ModelError(f"cannot read OpenVINO model {xml}: {exc}") from exc
        shape = model.input().get_partial_shape()
        if shape.is_dynamic or len(shape) != 4:
            raise ModelError(f"{xml}: a static (1, 3, H, W) input is needed, got {shape}; "
                             "export with 'exteros-edge models export'")  # fmt: skip
        h, w = int(shape[2].get_length()), int(shape[3].get_length())
        info = ExportInfo.from_metadata(
            export_metadata(xml.parent), (h, w), self.task, self.keypoints
        )
        ppp = PrePostProcessor(model)
        inp = ppp.input()
        inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")) \
            .set_color_format(ColorFormat.BGR)  # fmt: skip
        inp.model().set_layout(ov.Layout("NCHW"))
        inp.preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB) \
            .scale(255.0)  # fmt: skip
        model = ppp.build()
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if self.streams > 1:
            config = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": self.streams}
        if self.cfg.threads:
            config["INFERENCE_NUM_THREADS"] = self.cfg.threads
        if self._device == "CPU" and platform.machine() in ("aarch64", "arm64"):
            # as Ultralytics does on ARM: reduced precision there loses detections
            config["EXECUTION_MODE_HINT"] = "ACCURACY"
            config["INFERENCE_PRECISION_HINT"] = "f32"
        try:
            compiled = self._core.compile_model(model, self._device, config)
        except RuntimeError as exc:
            raise ModelError(f"cannot compile {xml} for {self._device}: {exc}") from exc
        queue = ov.AsyncInferQueue(compiled, max(2, self.streams))
        queue.set_callback(_on_done)
        return LoadedModel(path, info, queue)

    def _start(
        self,
        model: LoadedModel,
        padded: np.ndarray,
        done: Callable[[np.ndarray], None],
        fail: Callable[[BaseException], None],
    ) -> None:
        # blocks while every request is busy (back-pressure); the GIL is released meanwhile
        model.handle.start_async({0: padded[None]}, (done, fail))

    def close(self) -> None:
        """Wait for the inferences in flight and release the compiled models (a later
        frame compiles its model again)."""
        with self._lock:
            models = list(self._by_path.values())
            self._by_path.clear()
            self._by_size.clear()
        for model in models:
            model.handle.wait_all()
        del models


def _on_done(request: Any, userdata: tuple[Callable[[np.ndarray], None],
                                          Callable[[BaseException], None]]) -> None:  # fmt: skip
    """AsyncInferQueue callback (an OpenVINO thread): decode while the request is ours."""
    done, fail = userdata
    try:
        raw = request.get_output_tensor(0).data
    except BaseException as exc:  # an exception must not escape into OpenVINO's thread
        fail(exc)
        return
    done(raw)
