"""Frame sources: video files (deterministic clock), USB cameras and RTSP/HTTP streams.

A file's clock is frame index / the file's fps (+ a start time), so a replay
gives the same timestamps every time. A live source is read on its own thread
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
    try:
        if not cap.isOpened():
            raise SourceError(f"cannot open video (unknown format or corrupt file): {p}")
        ok, img = cap.read()
        if not ok or img is None:
            raise SourceError(f"video has no readable frames: {p}")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        h, w = img.shape[:2]
    finally:
        cap.release()
    if not fps or fps != fps or fps <= 0 or fps > 1000:
        raise SourceError(f"video reports no usable frame rate ({fps!r}): {p}; set the camera fps")
    return float(fps), count, w, h


class VideoFileSource:
    """Frames of a file, every ``stride``-th one decoded, clock = index / fps."""

    live = False

    def __init__(self, path: str | Path, fps: float | None = None) -> None:
        self.path = Path(path)
        probed_fps, self.frame_count, self.width, self.height = probe_video(self.path)
        self.fps = fps or probed_fps

    def frames(self, stride: int = 1) -> Iterator[Frame]:
        """Every ``stride``-th frame, timed by the file's own frame times (PTS).

        Constant-rate files give index / fps; a file with a gap (a stalled camera
        recorded with real timestamps) keeps its gap. Where the container has no
        usable times, index / fps is used.
        """
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise SourceError(f"cannot open video: {self.path}")
        try:
            index = 0
            pts0: float | None = None
            last_t, last_index = -1.0, 0
            while True:
                if index % stride == 0:
                    ok, img = cap.read()
                    if not ok:
                        break
                    t = self._time(cap.get(cv2.CAP_PROP_POS_MSEC), pts0, index, last_t, last_index)
                    if pts0 is None:
                        pts0 = cap.get(cv2.CAP_PROP_POS_MSEC)
                        t = 0.0
                    last_t, last_index = t, index
                    yield Frame(img, index, t)
                elif not cap.grab():  # decode without the colour conversion
                    break
                index += 1
        finally:
            cap.release()

    def _time(self, pts_ms: float, pts0: float | None, index: int, last_t: float,
              last_index: int) -> float:  # fmt: skip
        by_index = last_t + (index - last_index) / self.fps
        if pts0 is None or pts_ms != pts_ms:
            return by_index
        t = (pts_ms - pts0) / 1000.0
        # times must advance; a container without real times falls back to index / fps
        return t if t > last_t else by_index

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
