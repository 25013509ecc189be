"""The time base of a video file: frame times, which frames to process, a short read.

Pure logic, no I/O: the decoder hands in each frame's container time (PTS, in ms)
and gets back the frame's clock time, whether it is due for processing, and at
the end whether the file stopped decoding before its end.

- Clock: a container's own frame times when they advance (a mislabelled or
  variable-rate file keeps its real times); index / fps where they do not.
- Selection: a frame is processed when it is the nearest to the next due time,
  1 / process_fps after the last processed frame. A constant-rate file thus gives
  every n-th frame with n = the fps ratio rounded (a tie, e.g. 30 fps at 4/s, goes to
  the later frame so that a tie never processes faster than configured), and a
  50 fps-labelled file whose frames are 40 ms apart gives the same frames as an
  honest 25 fps one.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

_TIE_S = 1e-3  # container times are often whole ms: a tie within this goes to the later frame


def measured_fps(pts_ms: Sequence[float]) -> float | None:
    """Frame rate from the first frames' container times; None when they are not usable.

    Usable: finite, strictly increasing (monotonic and not constant).
    """
    if len(pts_ms) < 2 or any(p != p or math.isinf(p) for p in pts_ms):
        return None
    gaps = [b - a for a, b in zip(pts_ms, pts_ms[1:], strict=False)]
    if any(g <= 0 for g in gaps):
        return None
    gap = statistics.median(gaps)
    return 1000.0 / gap


def frame_rate(declared_fps: float, measured: float | None) -> float:
    """The rate of the frames: measured from the times, the declared one when they agree."""
    if measured is None or abs(measured - declared_fps) <= 0.01 * declared_fps:
        return declared_fps
    return measured


def processed_rate(frame_fps: float, process_fps: float) -> float:
    """Frames per second that ``FrameSelector`` passes on a constant-rate file."""
    return frame_fps / frame_step(frame_fps, process_fps)


def frame_step(frame_fps: float, process_fps: float) -> int:
    """Every how many frames ``FrameSelector`` picks one on a constant-rate file."""
    if process_fps <= 0 or frame_fps <= process_fps:
        return 1
    return max(1, math.floor((1 / process_fps + _TIE_S) * frame_fps - 0.5) + 1)


class FrameClock:
    """Seconds since the first frame: container times while they advance, else index / fps."""

    def __init__(self, fps: float, use_pts: bool = True) -> None:
        self.fps = fps
        self.use_pts = use_pts
        self._pts0: float | None = None
        self._last: tuple[int, float] | None = None  # (index, t) of the previous frame

    def time(self, index: int, pts_ms: float | None) -> float:
        if self._last is None:
            self._pts0 = pts_ms if pts_ms is not None and pts_ms == pts_ms else None
            t = 0.0
        else:
            last_index, last_t = self._last
            t = last_t + (index - last_index) / self.fps  # by index
            if self.use_pts and self._pts0 is not None and pts_ms is not None and pts_ms == pts_ms:
                by_pts = (pts_ms - self._pts0) / 1000.0
                if by_pts > last_t:  # times must advance
                    t = by_pts
        self._last = (index, t)
        return t


class FrameSelector:
    """Picks frames about 1 / process_fps apart by their times (0 = every frame)."""

    def __init__(self, process_fps: float) -> None:
        self.period = 1.0 / process_fps if process_fps > 0 else 0.0
        self._due: float | None = None
        self._prev_t: float | None = None

    def due(self, t: float) -> bool:
        gap = t - self._prev_t if self._prev_t is not None else 0.0
        self._prev_t = t
        # the frame nearest the due time: the next one (about ``gap`` later) would be farther
        if self._due is None or t + gap / 2 > self._due + _TIE_S:
            self._due = t + self.period
            return True
        return False


def decode_shortfall(
    frames_read: int, frame_count: int, declared_fps: float, reached_s: float, failed: bool = False
) -> str | None:
    """Why a file ended early, or None when it was read to its end.

    The container's frame count is an estimate in some formats (duration x declared
    fps), so a file counts as cut short only when both the frames read and the time
    reached fall short of what the container declares (or a frame failed to decode).
    """
    if frame_count <= 0 or declared_fps <= 0:
        declared_s = 0.0
        short = False
    else:
        declared_s = frame_count / declared_fps
        frames_short = frames_read < frame_count - max(2, 0.01 * frame_count)
        time_short = reached_s < declared_s - max(2 / declared_fps, 0.01 * declared_s)
        short = frames_short and time_short
    if not (short or failed):
        return None
    if frame_count > 0 and declared_s > 0:
        return (f"video stopped decoding at frame {frames_read} of {frame_count} "
                f"({reached_s:.1f} s of {declared_s:.1f} s)")  # fmt: skip
    return f"video stopped decoding at frame {frames_read} ({reached_s:.1f} s)"
