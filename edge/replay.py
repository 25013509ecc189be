"""Replay a recorded video through the pipeline as fast as the machine allows.

Timestamps come from the file's own frame times (``edge.timebase``) plus ``start``,
never from the wall clock, so the same video and config give the same events and
ids. Frames are picked by time, about ``process_fps`` per second of video, and
decoded on their own thread into a bounded queue (none dropped). While the pipeline
tracks one frame, the model already runs on the next ``LOOKAHEAD`` (``edge.runtime.
lookahead``; results are still taken in frame order, so counts are those of a frame-by-
frame run). A file that stops decoding before its end keeps the events up to there and
is reported (``ReplayReport.decode_error``, and a warning in the log). The time from
process start to the first processed frame is logged and kept (``first_frame_s``).
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config import EdgeConfig
from edge.detector import Detector, build_detector
from edge.outputs import Message, Output
from edge.pipeline import CameraPipeline, CameraStats, FrameResult, input_size_for
from edge.runtime.lookahead import Lookahead
from edge.sources import Frame, SourceError, VideoFileSource
from edge.timebase import frame_step, processed_rate

if TYPE_CHECKING:
    from rich.progress import Progress

log = logging.getLogger(__name__)

LOOKAHEAD = 1  # frames whose inference runs while the current one is tracked
DECODE_AHEAD_BYTES = 24 << 20  # decoded frames queued ahead of the pipeline, at most
_IMPORTED = time.monotonic()


@dataclass
class ReplayReport:
    camera_id: str
    locations: list[str]
    stats: CameraStats
    frames_in_file: int  # as the container declares it (an estimate in some formats)
    duration_s: float  # video time read, by the file's own frame times
    elapsed_s: float
    stride: int  # source frames per processed frame, rounded (frames are picked by time)
    frames_read: int = 0  # frames decoded
    video_fps: float = 0.0  # rate of the file's frames (measured from its times)
    decode_error: str | None = None  # set when the file stopped decoding before its end
    first_frame_s: float | None = None  # process start -> first frame processed

    @property
    def processed_fps(self) -> float:
        """Processed frames per second of video time."""
        return self.stats.frames / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def fps(self) -> float:
        """Source frames covered per second of processing."""
        return self.frames_read / self.elapsed_s if self.elapsed_s else 0.0


def process_age_s() -> float:
    """Seconds since this process started: its start time in /proc/self/stat, else
    psutil's, else (neither there) since this module was imported."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return time.monotonic() - _IMPORTED
    return time.time() - float(psutil.Process().create_time())


def threaded_frames(
    source: VideoFileSource,
    stride: int = 1,
    depth: int = 8,
    *,
    process_fps: float | None = None,
) -> Iterator[Frame]:
    """Decode on a helper thread; the queue is bounded and never drops (replay).

    Frames about ``process_fps`` a second of video time apart when it is given,
    else every ``stride``-th frame.
    """
    # at most ~24 MB of decoded frames ahead (8 of 720p, 3 of 1080p): peak memory
    frame_bytes = max(1, source.width * source.height * 3)
    depth = max(2, min(depth, DECODE_AHEAD_BYTES // frame_bytes))
    q: queue.Queue[Frame | None] = queue.Queue(maxsize=depth)  # None: the reader is done
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            frames = (source.frames_at(process_fps) if process_fps is not None
                      else source.frames(stride))  # fmt: skip
            for frame in frames:
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
            q.put(None)

    th = threading.Thread(target=reader, name="decode", daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            yield item
    finally:
        stop.set()
        th.join(timeout=2)
    if errors:
        raise errors[0]


def warm_in_background(detector: Detector, imgsz: tuple[int, int]) -> threading.Thread | None:
    """Compile the model for ``imgsz`` in a thread (OpenVINO releases the GIL meanwhile)
    while the caller imports and builds the rest: the first frame comes ~0.5 s sooner.

    Only a runtime that loads its models apart from inference (``model_for``: OpenVINO,
    ONNX Runtime) is warmed so: no inference ever runs on two threads at once (an
    OpenVINO infer queue is not thread-safe). The first detection waits for the load
    (``model_for`` holds a lock) and raises its failure, if any, for real."""
    load = getattr(detector, "model_for", None)
    if load is None:
        return None

    def warm() -> None:
        try:
            load(imgsz)
        except Exception as exc:  # noqa: BLE001  # the first detect raises it for real
            log.debug("background model load failed: %s", exc)

    th = threading.Thread(target=warm, name="model-load", daemon=True)
    th.start()
    return th


def replay(
    video: str | Path,
    cfg: EdgeConfig,
    start: datetime,
    outputs: Sequence[Output],
    camera_id: str | None = None,
    annotate: str | Path | None = None,
    progress: bool | None = None,
    detector: Detector | None = None,
    on_frame: Callable[[FrameResult], None] | None = None,
) -> ReplayReport:
    camera = cfg.camera(camera_id)
    source = VideoFileSource(video, fps=camera.fps)
    rate = processed_rate(source.fps, cfg.model.process_fps)
    stride = frame_step(source.fps, cfg.model.process_fps)
    own = detector is None
    detector = detector or build_detector(cfg.model, parallel=LOOKAHEAD + 1)
    if own:
        warm_in_background(detector, input_size_for(cfg, camera, source.width, source.height))
    look = Lookahead(detector)
    pipe = CameraPipeline(cfg, camera, look, rate, start)
    annotator = None
    if annotate:
        from edge.annotate import Annotator

        annotator = Annotator(annotate, rate, (source.width, source.height))
    if progress is None:
        progress = sys.stderr.isatty()

    def emit(messages: list[Message]) -> None:
        for msg in messages:
            for out in outputs:
                out.emit(msg)

    total = None
    if source.frame_count > 0 and source.declared_fps > 0:  # the declared duration, in frames
        total = max(1, round(source.frame_count / source.declared_fps * rate))
    first_frame_s: float | None = None
    busy = False  # the last frame ran the model: start the next ones early
    t0 = time.perf_counter()
    try:
        with _progress(progress, total, camera.camera_id, stride) as advance:

            def handle(frame: Frame) -> None:
                nonlocal busy, first_frame_s
                inferred = pipe.stats.inferred
                res = pipe.process(frame)
                look.forget(frame.image)
                busy = pipe.stats.inferred > inferred
                if first_frame_s is None:
                    first_frame_s = process_age_s()
                    log.info("first frame processed %.2f s after start", first_frame_s)
                if on_frame is not None:
                    on_frame(res)
                emit(res.messages)
                if annotator:
                    annotator.write(pipe, res)
                advance()

            ahead: deque[Frame] = deque()
            for frame in threaded_frames(source, process_fps=cfg.model.process_fps):
                if busy:  # a still scene (motion gate) is not inferred ahead
                    look.start(frame.image, pipe.imgsz)
                ahead.append(frame)
                if len(ahead) > LOOKAHEAD:
                    handle(ahead.popleft())
            while ahead:
                handle(ahead.popleft())
        emit(pipe.finish())
    finally:
        if annotator:
            annotator.close()
        close = getattr(detector, "close", None)
        if own and close is not None:
            close()
    if pipe.stats.frames == 0:
        raise SourceError(f"video has no readable frames: {video}")
    elapsed = time.perf_counter() - t0
    if source.decode_error:
        log.warning("%s: %s; events up to there were kept", video, source.decode_error)
    duration = source.duration_s
    return ReplayReport(
        camera_id=camera.camera_id,
        locations=camera.locations(),
        stats=pipe.stats,
        frames_in_file=source.frame_count,
        duration_s=duration,
        elapsed_s=elapsed,
        stride=stride,
        frames_read=source.frames_read,
        video_fps=source.fps,
        decode_error=source.decode_error,
        first_frame_s=first_frame_s,
    )


class _progress:
    """A rich progress bar with fps and ETA on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool, total: int | None, label: str, stride: int) -> None:
        self.enabled, self.total, self.label, self.stride = enabled, total, label, stride
        self._bar: Progress | None = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,  # fmt: skip
        )

        bar = self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} video fps"),
            TimeRemainingColumn(),
            transient=False,
        )
        bar.start()
        task = bar.add_task(f"replay {self.label}", total=self.total, fps=0.0)
        t0 = time.perf_counter()
        state = {"n": 0}

        def advance() -> None:
            state["n"] += 1
            el = time.perf_counter() - t0
            fps = state["n"] * self.stride / el if el > 0 else 0.0  # video frames covered
            bar.update(task, advance=1, fps=fps)

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
