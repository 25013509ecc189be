"""A file's time base: real frame times, frames picked by time, honest duration.

The files are made here: a plain cv2 AVI (the normal case) and, with ffmpeg, MKVs
whose frames carry real times that the declared fps contradicts (a 50 fps header
on frames 40 ms apart) or that change rate halfway (variable frame rate).
"""

from __future__ import annotations

import hashlib
import math
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.pipeline import stride_for
from edge.sources import VideoFileSource
from edge.timebase import (
    FrameClock,
    FrameSelector,
    decode_shortfall,
    frame_rate,
    frame_step,
    measured_fps,
    processed_rate,
)

W, H = 160, 120
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def write_avi(path: Path, frames: int = 100, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((H, W, 3), 40, np.uint8)
        cv2.putText(img, str(i), (10, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        writer.write(img)
    writer.release()
    return path


def ffmpeg(*args: str) -> None:
    proc = subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def mislabelled_mkv(tmp_path: Path) -> Path:
    """Frames 40 ms apart (25 fps) in a container that declares 50 fps."""
    src = write_avi(tmp_path / "src.avi")
    out = tmp_path / "declared50.mkv"
    ffmpeg("-i", str(src), "-c:v", "libx264", "-bf", "0", "-pix_fmt", "yuv420p",
           "-r", "50", "-fps_mode", "passthrough", str(out))  # fmt: skip
    return out


def frames_at(path: Path, process_fps: float = 8.0) -> tuple[VideoFileSource, list]:
    src = VideoFileSource(path)
    return src, list(src.frames_at(process_fps))


# -- pure time base ----------------------------------------------------------------------------
@pytest.mark.parametrize("fps", [10, 12, 12.5, 15, 20, 24, 25, 29.97, 30, 50, 60])
@pytest.mark.parametrize("process_fps", [4, 8, 15])
def test_selection_by_time_matches_the_stride_on_constant_rate_files(fps, process_fps):
    sel = FrameSelector(process_fps)
    picked = [i for i in range(600) if sel.due(i / fps)]
    steps = {b - a for a, b in zip(picked, picked[1:], strict=False)}
    assert steps == {frame_step(fps, process_fps)}
    assert processed_rate(fps, process_fps) == pytest.approx(fps / frame_step(fps, process_fps))
    ratio = fps / process_fps
    if abs(ratio % 1 - 0.5) / fps > 1e-3:  # not a tie (within 1 ms): the old rounded stride
        assert steps == {stride_for(fps, process_fps)}
    else:  # a tie goes to the later frame: never faster than configured
        assert steps == {math.ceil(ratio)}


def test_selection_follows_real_times_through_a_rate_change_and_a_gap():
    times = [i * 0.04 for i in range(50)] + [2.0 + i * 0.02 for i in range(100)] + [10.0, 10.04]
    sel = FrameSelector(8)
    picked = [t for t in times if sel.due(t)]
    gaps = [round(b - a, 3) for a, b in zip(picked, picked[1:], strict=False)]
    assert set(gaps[:16]) == {0.12}  # 25 fps part: every 3rd frame
    assert set(gaps[17:-1]) == {0.12}  # 50 fps part: every 6th frame
    assert picked[-1] == 10.0  # the first frame after a gap is processed


def test_every_frame_when_process_fps_is_zero():
    sel = FrameSelector(0)
    assert all(sel.due(i / 25) for i in range(50))
    assert processed_rate(25, 0) == 25


def test_container_times_are_used_only_when_they_advance():
    assert measured_fps([0, 40, 80, 120]) == pytest.approx(25)
    assert measured_fps([0, 0, 0, 0]) is None  # constant
    assert measured_fps([0, 40, 20, 60]) is None  # not monotonic
    assert measured_fps([0, float("nan"), 80]) is None
    assert frame_rate(50, 25.0) == 25.0
    assert frame_rate(15, 15.04) == 15  # agrees within 1 %: the declared rate stays
    assert frame_rate(30, None) == 30
    clock = FrameClock(25)
    ts = [clock.time(i, p) for i, p in enumerate([1000, 1040, 1040, 1120, float("nan"), 1200])]
    assert ts == pytest.approx([0, 0.04, 0.08, 0.12, 0.16, 0.2])  # stalls fall back to index


def test_shortfall_needs_both_frames_and_time_short():
    assert decode_shortfall(383, 383, 25, 15.32) is None
    assert decode_shortfall(212, 383, 25, 8.48) == (
        "video stopped decoding at frame 212 of 383 (8.5 s of 15.3 s)"
    )
    # a 50 fps header on 25 fps frames estimates 199 frames; 100 read in 4.0 s is the end
    assert decode_shortfall(100, 199, 50, 4.0) is None
    assert decode_shortfall(381, 383, 25, 15.24) is None  # an estimate off by two frames
    assert decode_shortfall(100, 100, 25, 4.0, failed=True) is not None


# -- real files --------------------------------------------------------------------------------
def test_plain_avi_is_processed_at_the_processed_rate(tmp_path):
    src, frames = frames_at(write_avi(tmp_path / "a.avi"))
    assert (src.declared_fps, src.fps, src.frame_count, src.frames_read) == (25, 25, 100, 100)
    assert [f.index for f in frames] == list(range(0, 100, 3))
    assert [f.t for f in frames] == pytest.approx([i * 0.12 for i in range(34)])
    assert src.duration_s == pytest.approx(4.0)
    assert src.decode_error is None


@needs_ffmpeg
def test_a_file_declaring_50_fps_with_frames_40_ms_apart_runs_on_real_times(tmp_path):
    path = mislabelled_mkv(tmp_path)
    src, frames = frames_at(path)
    assert src.declared_fps == 50  # what the container says
    assert src.fps == pytest.approx(25)  # what its frame times say
    assert src.frames_read == 100
    assert src.duration_s == pytest.approx(4.0)
    assert src.decode_error is None  # 100 of "199" frames is still the whole file
    # ~8 processed frames per second of real video time, 120 ms apart (by the old stride of
    # round(50 / 8) = 6 frames they were 240 ms apart: half the configured rate)
    assert len(frames) == 34
    assert [f.t for f in frames] == pytest.approx([i * 0.12 for i in range(34)])
    assert processed_rate(src.fps, 8) == pytest.approx(25 / 3)
    # the same frames as the honest AVI it was made from
    _, honest = frames_at(tmp_path / "src.avi")
    assert [f.index for f in frames] == [f.index for f in honest]


@needs_ffmpeg
def test_variable_frame_rate_file(tmp_path):
    src_avi = write_avi(tmp_path / "src.avi")
    cfr = tmp_path / "cfr.mkv"
    vfr = tmp_path / "vfr.mkv"
    ffmpeg("-i", str(src_avi), "-c:v", "libx264", "-bf", "0", "-pix_fmt", "yuv420p", str(cfr))
    # 2 s at 25 fps, then 50 frames 20 ms apart (50 fps)
    ffmpeg("-i", str(cfr), "-c", "copy", "-bsf:v",
           "setts=ts=if(lt(N\\,50)\\,N*40\\,2000+(N-50)*20)", str(vfr))  # fmt: skip
    src, frames = frames_at(vfr)
    assert src.frames_read == 100
    assert src.duration_s == pytest.approx(3.02, abs=0.03)
    gaps = [round(b.t - a.t, 3) for a, b in zip(frames, frames[1:], strict=False)]
    assert len(frames) == 25
    assert set(gaps) == {0.12}  # 8.3 processed frames/s in both parts
    assert [f.index for f in frames][16:19] == [48, 52, 58]


@needs_ffmpeg
def test_replays_of_a_mislabelled_file_are_deterministic(tmp_path):
    path = mislabelled_mkv(tmp_path)

    def run() -> list[tuple[int, float, str]]:
        _, frames = frames_at(path)
        return [(f.index, f.t, hashlib.sha1(f.image.tobytes()).hexdigest()) for f in frames]

    assert run() == run()
