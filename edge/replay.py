"""Replay a recorded video through the pipeline as fast as the machine allows.

Timestamps come from the file (frame index / fps) plus ``start``, never from the
wall clock, so the same video and config give the same events and ids. Frames
are decoded on their own thread into a bounded queue (none dropped).
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from edge.config import EdgeConfig
from edge.detector import Detector, UltralyticsDetector
from edge.outputs import Message, Output
from edge.pipeline import CameraPipeline, CameraStats, stride_for
from edge.sources import Frame, SourceError, VideoFileSource

_END = object()


@dataclass
class ReplayReport:
    camera_id: str
    locations: list[str]
    stats: CameraStats
    frames_in_file: int
    duration_s: float
    elapsed_s: float
    stride: int

    @property
    def fps(self) -> float:
        """Source frames covered per second of processing."""
        return self.stats.frames * self.stride / self.elapsed_s if self.elapsed_s else 0.0


def threaded_frames(source: VideoFileSource, stride: int, depth: int = 8) -> Iterator[Frame]:
    """Decode on a helper thread; the queue is bounded and never drops (replay)."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            for frame in source.frames(stride):
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            errors.append(exc)
        finally:
            q.put(_END)

    th = threading.Thread(target=reader, name="decode", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                break
            yield item
    finally:
        stop.set()
        th.join(timeout=2)
    if errors:
        raise errors[0]


def replay(
    video: str | Path,
    cfg: EdgeConfig,
    start: datetime,
    outputs: Sequence[Output],
    camera_id: str | None = None,
    annotate: str | Path | None = None,
    progress: bool | None = None,
    detector: Detector | None = None,
) -> ReplayReport:
    camera = cfg.camera(camera_id)
    source = VideoFileSource(video, fps=camera.fps)
    stride = stride_for(source.fps, cfg.model.process_fps)
    detector = detector or UltralyticsDetector(cfg.model)
    pipe = CameraPipeline(cfg, camera, detector, source.fps / stride, start)
    annotator = None
    if annotate:
        from edge.annotate import Annotator

        annotator = Annotator(annotate, source.fps / stride, (source.width, source.height))
    if progress is None:
        progress = sys.stderr.isatty()

    def emit(messages: list[Message]) -> None:
        for msg in messages:
            for out in outputs:
                out.emit(msg)

    total = source.frame_count // stride if source.frame_count > 0 else None
    t0 = time.perf_counter()
    try:
        with _progress(progress, total, camera.camera_id, stride) as advance:
            for frame in threaded_frames(source, stride):
                res = pipe.process(frame)
                emit(res.messages)
                if annotator:
                    annotator.write(pipe, res)
                advance()
        emit(pipe.finish())
    finally:
        if annotator:
            annotator.close()
    if pipe.stats.frames == 0:
        raise SourceError(f"video has no readable frames: {video}")
    elapsed = time.perf_counter() - t0
    return ReplayReport(
        camera_id=camera.camera_id,
        locations=[z.location for z in camera.zones],
        stats=pipe.stats,
        frames_in_file=source.frame_count,
        duration_s=source.frame_count / source.fps if source.frame_count > 0 else 0.0,
        elapsed_s=elapsed,
        stride=stride,
    )


class _progress:
    """A rich progress bar with fps and ETA on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool, total: int | None, label: str, stride: int) -> None:
        self.enabled, self.total, self.label, self.stride = enabled, total, label, stride
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,  # fmt: skip
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} video fps"),
            TimeRemainingColumn(),
            transient=False,
        )
        self._bar.start()
        task = self._bar.add_task(f"replay {self.label}", total=self.total, fps=0.0)
        t0 = time.perf_counter()
        state = {"n": 0}

        def advance() -> None:
            state["n"] += 1
            el = time.perf_counter() - t0
            fps = state["n"] * self.stride / el if el > 0 else 0.0  # video frames covered
            self._bar.update(task, advance=1, fps=fps)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
