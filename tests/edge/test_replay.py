"""replay (edge/replay.py) over a small video written here, with a scripted detector.

The video is written with OpenCV (MJPG AVI, 10 frames/s, the scripted people painted in);
``FakeDetector`` (tests/support/fake_detector.py) replaces YOLO through replay's
``detector=`` parameter, so frame selection, the file clock, ``on_frame``, the outputs and
the report are tested in well under a second. The motion gate is off here: the fake
detector learns each frame's time from its call count (n / processed rate), so every
selected frame must reach it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import pytest

from edge.config import EdgeConfig
from edge.outputs import Message
from edge.pipeline import FrameResult
from edge.replay import ReplayReport, replay
from edge.sources import SourceError
from edge.timebase import processed_rate
from exteros.contract import Event, EventKind, VisitSummary
from tests.support.fake_detector import FakeDetector, Person, render, standing

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
START_MS = round(START.timestamp() * 1000)
VIDEO_FPS = 10
FRAMES = 60  # 6 s


def script(t: float) -> list[Person]:
    """A shopper at the shelf (left half) from 0 to 3.6 s, one at the door from 4 s on."""
    people = []
    if t < 3.6:
        people.append(standing(80, 200))
    if t >= 4.0:
        people.append(standing(240, 200, colour=(200, 60, 60)))
    return people


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "shop.avi"
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, (320, 240))
    assert vw.isOpened()
    for i in range(FRAMES):
        vw.write(render(script(i / VIDEO_FPS)))
    vw.release()
    return path


def config(process_fps: float) -> EdgeConfig:
    return EdgeConfig(
        device_id="edge-1",
        model={"process_fps": process_fps, "motion_skip": False},
        cameras=[{"camera_id": "cam-1", "source": "shop.avi", "zones": [
            {"location": "shelf", "polygon": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
            {"location": "door", "polygon": [[0.5, 0], [1, 0], [1, 1], [0.5, 1]]},
        ]}],
    )  # fmt: skip


class Collect:
    """An output that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def emit(self, message: Message) -> None:
        self.messages.append(message)


def run(video: Path, process_fps: float) -> tuple[ReplayReport, list[FrameResult], Collect,
                                                   FakeDetector]:  # fmt: skip
    det = FakeDetector(script, fps=processed_rate(VIDEO_FPS, process_fps))
    frames: list[FrameResult] = []
    out = Collect()
    report = replay(video, config(process_fps), START, [out], detector=det,
                    on_frame=frames.append, progress=False)  # fmt: skip
    return report, frames, out, det


@pytest.mark.parametrize(
    ("process_fps", "indices"),
    [
        (5.0, list(range(0, FRAMES, 2))),  # every 2nd frame of a 10 fps file
        (2.5, list(range(0, FRAMES, 4))),
        (3.0, list(range(0, FRAMES, 3))),  # 3.33 -> every 3rd frame, never faster than asked
        (0.0, list(range(FRAMES))),  # 0 = every frame
        (30.0, list(range(FRAMES))),  # faster than the file: every frame
    ],
)
def test_frames_are_chosen_by_time(video, process_fps, indices):
    report, frames, _, det = run(video, process_fps)
    assert [r.frame.index for r in frames] == indices
    assert [r.frame.t for r in frames] == pytest.approx([i / VIDEO_FPS for i in indices])
    # the scripted detector saw the same clock as the pipeline
    assert det.calls == pytest.approx([r.frame.t for r in frames])
    assert report.stride == indices[1] - indices[0]
    assert report.stats.frames == report.stats.inferred == len(indices)


def test_on_frame_sees_every_processed_frame_with_its_tracks_and_messages(video):
    report, frames, out, _ = run(video, 5.0)
    assert all(r.frame.image.shape == (240, 320, 3) for r in frames)
    shopper = [r.frame.t for r in frames if any(tr.track_id == 1 for tr in r.tracks)]
    assert shopper == pytest.approx([i / 5 for i in range(18)])  # 0 .. 3.4 s
    door = [r.frame.t for r in frames if any(tr.track_id == 2 for tr in r.tracks)]
    assert door == pytest.approx([4.2 + i / 5 for i in range(9)])  # from its second frame
    # every message went through on_frame, in order, but the close at the end of the file
    via_frames = [m for r in frames for m in r.messages]
    assert out.messages[: len(via_frames)] == via_frames
    (closing,) = out.messages[len(via_frames) :]
    assert isinstance(closing, VisitSummary) and closing.location == "door"


def test_messages_and_report_of_a_replay(video):
    report, _, out, _ = run(video, 5.0)
    events = [m for m in out.messages if isinstance(m, Event)]
    summaries = [m for m in out.messages if isinstance(m, VisitSummary)]
    shelf = f"edge-1/cam-1/shelf/{START_MS}-1"
    door = f"edge-1/cam-1/door/{START_MS + 4200}-2"
    assert [(e.visit_id, e.kind) for e in events] == [
        (shelf, EventKind.impression),
        (shelf, EventKind.discovery),
        (door, EventKind.impression),
    ]
    # the shelf visit ends 2 s (the exit grace) after its last frame inside; the door visit
    # is still open at the end of the file and closed by the replay
    assert [(s.visit_id, s.kinds, s.dwell_s) for s in summaries] == [
        (shelf, [EventKind.impression, EventKind.discovery], 3.4),
        (door, [EventKind.impression], 1.6),
    ]
    assert report.camera_id == "cam-1" and report.locations == ["shelf", "door"]
    assert report.frames_read == FRAMES and report.decode_error is None
    assert report.video_fps == pytest.approx(VIDEO_FPS)
    assert report.duration_s == pytest.approx(FRAMES / VIDEO_FPS)
    assert report.processed_fps == pytest.approx(5.0)
    assert report.stats.counts["shelf"][EventKind.discovery] == 1
    assert report.stats.counts["door"][EventKind.impression] == 1
    assert report.stats.dwells == {"shelf": [3.4], "door": [1.6]}
    assert report.elapsed_s > 0 and report.fps == pytest.approx(FRAMES / report.elapsed_s)


def test_two_replays_of_one_file_give_the_same_messages(video):
    first = run(video, 5.0)[2].messages
    second = run(video, 5.0)[2].messages
    assert first and [m.model_dump_json() for m in first] == [m.model_dump_json() for m in second]


def test_the_start_time_moves_every_timestamp_and_id(video):
    det = FakeDetector(script, fps=5.0)
    out = Collect()
    later = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    replay(video, config(5.0), later, [out], detector=det, progress=False)
    first = out.messages[0]
    assert isinstance(first, Event)
    assert first.visit_id == f"edge-1/cam-1/shelf/{START_MS + 3_600_000}-1"
    assert first.occurred_at == datetime(2026, 3, 2, 10, 0, 0, 500000, tzinfo=UTC)


def test_a_file_without_frames_is_one_clear_error(tmp_path):
    bad = tmp_path / "empty.avi"
    bad.write_bytes(b"not a video at all")
    det = FakeDetector(script)
    with pytest.raises(SourceError) as exc:
        replay(bad, config(5.0), START, [], detector=det, progress=False)
    assert str(bad) in str(exc.value) and "\n" not in str(exc.value)
    assert det.calls == []


def test_first_frame_time_is_logged_and_reported(video, caplog):
    import logging

    from edge.replay import process_age_s

    caplog.set_level(logging.INFO, logger="edge.replay")
    report = run(video, 5.0)[0]
    lines = [r.getMessage() for r in caplog.records if "first frame processed" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0] == f"first frame processed {report.first_frame_s:.2f} s after start"
    assert report.first_frame_s is not None and 0 < report.first_frame_s <= process_age_s()


def test_process_age_counts_from_the_process_start():
    """A child that sleeps 1 s before asking: 1 s plus its own start-up."""
    code = "import time; time.sleep(1); from edge.replay import process_age_s as a; print(a())"
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    wall = time.monotonic() - t0
    assert 1.0 <= float(out) <= wall + 0.05


def test_the_background_warm_up_only_loads_the_model_never_infers():
    """Inference stays on the replay's thread (an OpenVINO infer queue is not thread-safe:
    two threads submitting at once deadlocked); the warm-up thread only loads the model."""
    from edge.replay import warm_in_background

    calls: list[tuple[str, object]] = []

    class Loads:
        def model_for(self, size):  # noqa: ANN001, ANN202
            calls.append(("model_for", size))

        def detect(self, image, imgsz=None):  # noqa: ANN001, ANN202
            calls.append(("detect", imgsz))

    th = warm_in_background(Loads(), (736, 1280))
    assert th is not None
    th.join(5)
    assert calls == [("model_for", (736, 1280))]
    # a runtime without a separate load (Ultralytics, a test's fake) is not warmed at all
    assert warm_in_background(FakeDetector(lambda t: []), (384, 640)) is None
