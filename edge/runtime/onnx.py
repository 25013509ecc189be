"""ONNX Runtime: an Ultralytics ``.onnx`` export run directly, without torch.

An ONNX export is static at one input size (``exteros-edge models export --format onnx
--imgsz H,W``); every camera uses that size. The export's metadata (names, kpt_shape,
imgsz) is read from the file's metadata map. Inferences run on a small thread pool
(ONNX Runtime releases the GIL), so frames and cameras overlap as with OpenVINO.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import ModelConfig
from edge.modelzoo import ModelError, resolve_weights
from edge.runtime.base import ExportDetector, LoadedModel
from edge.runtime.prepost import ExportInfo, to_blob

WORKERS = 2  # inferences in flight at once


class OnnxDetector(ExportDetector):
    """Person detection with ``onnxruntime`` on the CPU."""

    backend = "onnxruntime"

    def __init__(self, cfg: ModelConfig) -> None:
        if cfg.device != "cpu":
            raise ModelError(
                f"model.device {cfg.device!r}: the onnxruntime backend runs on the CPU; "
                "set model.backend: ultralytics for a torch device"
            )
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="onnx")
        super().__init__(cfg)

    def _path_for(self, size: tuple[int, int]) -> Path:
        path = resolve_weights(self.cfg.weights)
        if path.suffix != ".onnx":
            raise ModelError(f"the onnxruntime backend needs an .onnx file, got {path}")
        return path

    def _load(self, path: Path) -> LoadedModel:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self.cfg.threads:
            opts.intra_op_num_threads = self.cfg.threads
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc
        shape = session.get_inputs()[0].shape
        if len(shape) != 4 or not all(isinstance(s, int) for s in shape[2:]):
            raise ModelError(f"{path}: a static (1, 3, H, W) input is needed, got {shape}; "
                             "export with 'exteros-edge models export --format onnx'")  # fmt: skip
        meta = {k: _literal(v) for k, v in session.get_modelmeta().custom_metadata_map.items()}
        info = ExportInfo.from_metadata(meta, (shape[2], shape[3]), self.task, self.keypoints)
        return LoadedModel(path, info, session)

    def _start(
        self,
        model: LoadedModel,
        padded: np.ndarray,
        done: Callable[[np.ndarray], None],
        fail: Callable[[BaseException], None],
    ) -> None:
        session = model.handle
        name = session.get_inputs()[0].name

        def run() -> None:
            try:
                raw = session.run(None, {name: to_blob(padded)})[0]
            except BaseException as exc:  # handed to whoever waits for the result
                fail(exc)
                return
            done(raw)

        self._pool.submit(run)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _literal(value: str) -> Any:
    """Ultralytics writes ONNX metadata values as Python literals (``{0: 'person'}``)."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
