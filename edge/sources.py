"""Frame sources: video files (deterministic clock), USB cameras and RTSP/HTTP streams.

A file's clock is its own frame times (container PTS; frame index / fps where the
container has no usable times) plus a start time, so a replay gives the same
timestamps every time (see ``edge.timebase``). A live source is read on its own thread
into a bounded queue that keeps only the newest frames; when it stalls or drops
it reconnects with backoff and never raises into the frame loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.timebase import (
    FrameClock,
    FrameSelector,
    decode_shortfall,
    frame_rate,
    measured_fps,
)

# ffmpeg prints its own complaints (e.g. "moov atom not found") straight to stderr;
# we report problems ourselves, as one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
import cv2  # noqa: E402

log = logging.getLogger(__name__)


class SourceError(Exception):
    """A source that cannot be opened or read (missing file, not a video, ...)."""


@dataclass(slots=True)
class Frame:
    image: np.ndarray
    index: int  # index in the source (files: exact frame number)
    t: float  # seconds since the source started: the clock of visits and dwell


def is_live(source: int | str) -> bool:
    if isinstance(source, int):
        return True
    s = str(source)
    return s.startswith("/dev/video") or "://" in s


def _cv_source(source: int | str) -> int | str:
    if isinstance(source, str) and source.startswith("/dev/video") and source[10:].isdigit():
        return int(source[10:])
    return source


def probe_video(path: str | Path) -> tuple[float, int, int, int]:
    """(fps, frame_count, width, height) of a video file; SourceError if unusable."""
    fps, count, w, h, _ = _probe(path, 0)
    return fps, count, w, h


def _probe(path: str | Path, times: int) -> tuple[float, int, int, int, list[float]]:
    """``probe_video`` plus the container times of the first ``times`` frames, with the
    file opened once."""
    if is_live(str(path)):
        cap = cv2.VideoCapture(_cv_source(str(path)), cv2.CAP_ANY,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000])  # fmt: skip
        opened = cap.isOpened()
        cap.release()
        if not opened:
            raise SourceError(f"camera unreachable: {path}")
        raise SourceError(f"{path} is a live camera; replay takes a recorded video file (use run)")
    p = Path(path)
    if not p.exists():
        raise SourceError(f"video file not found: {p}")
    if not p.is_file():
        raise SourceError(f"not a file: {p}")
    cap = cv2.VideoCapture(str(p))
    stamps: list[float] = []
    try:
        if not cap.isOpened():
            raise SourceError(f"cannot open video (unknown format or corrupt file): {p}")
        ok, img = cap.read()
        if not ok or img is None:
            raise SourceError(f"video has no readable frames: {p}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        h, w = img.shape[:2]
        if times > 0:
            stamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)))
            with contextlib.suppress(cv2.error):
                while len(stamps) < times and cap.grab():
                    stamps.append(float(cap.get(cv2.CAP_PROP_POS_MSEC)))
    finally:
        cap.release()
    if not fps or fps != fps or fps <= 0 or fps > 1000:
        raise SourceError(f"video reports no usable frame rate ({fps!r}): {p}; set the camera fps")
    return float(fps), count, w, h, stamps


class VideoFileSource:
    """Frames of a file, timed by the file's own frame times (see ``edge.timebase``).

    ``fps`` is the rate of the frames: measured from the container's times when they
    are usable (monotonic, not constant), else the configured or declared rate.
    After a pass over the file, ``frames_read``, ``end_t`` and ``decode_error`` say
    how far it got (``decode_error`` is set when it stopped before its end).
    """

    live = False
    PROBE_FRAMES = 48

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        probed_fps, self.frame_count, self.width, self.height, times = _probe(
            self.path, self.PROBE_FRAMES
        )
        self.declared_fps = probed_fps
        measured = measured_fps(times)
        self.pts_usable = measured is not None
        self.fps = frame_rate(fps or probed_fps, measured)
        self.frames_read = 0
        self.end_t = 0.0
        self.decode_error: str | None = None

    @property
    def duration_s(self) -> float:
        """Video time covered by the frames read so far (through the last frame's end)."""
        return self.end_t + 1.0 / self.fps if self.frames_read else 0.0

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        """Every ``stride``-th frame (by index), timed by the file's frame times."""
        return self._decode(lambda index, t: index % stride == 0)

    def frames_at(self, process_fps: float) -> Iterator[Frame]:
        """Frames about ``process_fps`` a second of video time apart (0 = all)."""
        selector = FrameSelector(process_fps)
        return self._decode(lambda index, t: selector.due(t))

    def _decode(self, wanted: Callable[[int, float], bool]) -> Iterator[Frame]:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video: {self.path}")
        clock = FrameClock(self.fps, use_pts=self.pts_usable)
        self.frames_read, self.end_t, self.decode_error = 0, 0.0, None
        failed = False
        try:
            index = 0
            while True:
                try:
                    if not cap.grab():  # decodes, without the colour conversion
                        break
                    t = clock.time(index, cap.get(cv2.CAP_PROP_POS_MSEC))
                    img = None
                    if wanted(index, t):
                        ok, img = cap.retrieve()
                        if not ok or img is None:
                            failed = True
                            break
                except cv2.error:
                    failed = True
                    break
                self.frames_read, self.end_t = index + 1, t
                if img is not None:
                    yield Frame(img, index, t)
                index += 1
        finally:
            cap.release()
        self.decode_error = decode_shortfall(
            self.frames_read, self.frame_count, self.declared_fps, self.duration_s, failed
        )

    def close(self) -> None:
        pass


def grab_one(source: int | str, timeout_s: float = 10.0) -> np.ndarray:
    """One frame from any source (a file's first frame); SourceError when none comes."""
    if not is_live(source):
        p = Path(str(source))
        probe_video(p)
        cap = cv2.VideoCapture(str(p))
        ok, img = cap.read()
        cap.release()
        if not ok:
            raise SourceError(f"video has no readable frames: {p}")
        return img
    live = LiveSource(source, camera_id="snapshot")
    try:
        frame = live.read(timeout_s)
    finally:
        live.close()
    if frame is None:
        raise SourceError(f"no frame from camera {source!r} within {timeout_s:.0f} s")
    return frame.image


class LiveSource:
    """A camera or stream read on its own thread; ``read`` returns the newest frame.

    File sources can be played as if they were cameras (``pace=True``: at their
    own fps, ``loop=True``: from the start again at the end), for demos and tests.
    """

    live = True

    def __init__(
        self,
        source: int | str,
        camera_id: str,
        fps: float | None = None,
        pace: bool = False,
        loop: bool = False,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        read_timeout_s: float = 10.0,
    ) -> None:
        self.source = source
        self.camera_id = camera_id
        self.fps = fps or 0.0
        self.pace = pace
        self.loop = loop
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.read_timeout_s = read_timeout_s
        self.connected = False
        self.frames_read = 0
        self.last_frame_mono: float | None = None
        self.width = self.height = 0
        self._queue: queue.Queue[Frame] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"src-{camera_id}", daemon=True)
        self._thread.start()

    # -- reader thread -------------------------------------------------------------------
    def _open(self) -> cv2.VideoCapture | None:
        src = _cv_source(self.source)
        if isinstance(src, str) and "://" in src:
            # a stalled stream must not block the reader forever: ffmpeg gives up after this
            ms = int(self.read_timeout_s * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(src, cv2.CAP_FFMPEG, params)
        else:
            cap = cv2.VideoCapture(src)
        if not cap.isOpened():
            cap.release()
            return None
        if not self.fps:
            reported = cap.get(cv2.CAP_PROP_FPS)
            self.fps = float(reported) if reported and 0 < reported < 1000 else 15.0
        return cap

    def _run(self) -> None:
        delay = self.backoff_min_s
        while not self._stop.is_set():
            cap = self._open()
            if cap is None:
                if self.connected or self.frames_read == 0:
                    log.warning("camera %s: cannot open %r, retrying in %.1f s",
                                self.camera_id, self.source, delay)  # fmt: skip
                self.connected = False
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            self.connected = True
            delay = self.backoff_min_s
            period = 1.0 / self.fps if self.pace and self.fps else 0.0
            next_at = time.monotonic()
            while not self._stop.is_set():
                ok, img = cap.read()
                if not ok or img is None:
                    break
                now = time.monotonic()
                if period:
                    next_at += period
                    if next_at > now:
                        self._stop.wait(next_at - now)
                        now = time.monotonic()
                self.height, self.width = img.shape[:2]
                frame = Frame(img, self.frames_read, now - self._t0)
                self.frames_read += 1
                self.last_frame_mono = now
                # Keep only the newest frames: drop the stale one rather than fall behind.
                if self._queue.full():
                    with contextlib.suppress(queue.Empty):
                        self._queue.get_nowait()
                self._queue.put_nowait(frame)
            cap.release()
            if self._stop.is_set():
                break
            if self.loop and not isinstance(self.source, int) and not is_live(self.source):
                continue
            self.connected = False
            log.warning("camera %s: stream ended or stalled, reconnecting in %.1f s",
                        self.camera_id, delay)  # fmt: skip
            self._stop.wait(delay)
            delay = min(delay * 2, self.backoff_max_s)

    # -- consumer side -------------------------------------------------------------------
    def read(self, timeout_s: float) -> Frame | None:
        """The newest frame (older queued ones are stale and dropped), or None."""
        try:
            frame = (
                self._queue.get(timeout=timeout_s) if timeout_s > 0 else self._queue.get_nowait()
            )
        except queue.Empty:
            return None
        while True:
            try:
                frame = self._queue.get_nowait()
            except queue.Empty:
                return frame

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
