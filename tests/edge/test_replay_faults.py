"""A video that stops decoding before its end: reported, with the events up to there kept.

The broken files are copies of a scenario video (re-encoded to MJPG AVI here, whose
header keeps the full frame count) cut short or overwritten partway; the shared data
is never touched.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import load_config
from edge.pipeline import FrameResult
from edge.replay import replay
from edge.scenarios import generate
from edge.sources import SourceError, VideoFileSource

START = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
CONFIG = """\
device_id: d
cameras:
  - camera_id: c
    source: x.mp4
    zones:
      - location: s
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
"""


def to_avi(src: Path, dst: Path) -> Path:
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if writer is None:
            h, w = img.shape[:2]
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        writer.write(img)
    cap.release()
    assert writer is not None
    writer.release()
    return dst


def cut(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def overwrite_tail(src: Path, dst: Path, from_: float) -> Path:
    data = bytearray(src.read_bytes())
    at = int(len(data) * from_)
    data[at:] = np.random.default_rng(0).integers(0, 256, len(data) - at, np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def stop4(tmp_path_factory) -> tuple[Path, Path]:
    cache = os.environ.get("EXTEROS_SCENARIO_CACHE")
    out = Path(cache) if cache else tmp_path_factory.mktemp("scenarios")
    files = generate("stop4", out)
    avi = to_avi(files.video, tmp_path_factory.mktemp("faults") / "stop4.avi")
    return avi, files.config


@pytest.mark.parametrize("damage", ["truncated", "garbage_tail"])
def test_source_reports_where_decoding_stopped(stop4, tmp_path, damage):
    avi, _ = stop4
    whole = VideoFileSource(avi)
    n_whole = len(list(whole.frames_at(8)))
    assert whole.decode_error is None and whole.frames_read == whole.frame_count
    bad = (cut(avi, tmp_path / "bad.avi", 0.6) if damage == "truncated"
           else overwrite_tail(avi, tmp_path / "bad.avi", 0.6))  # fmt: skip
    src = VideoFileSource(bad)
    assert src.frame_count == whole.frame_count  # the header still promises every frame
    frames = list(src.frames_at(8))
    assert 0 < len(frames) < n_whole
    m = re.fullmatch(r"video stopped decoding at frame (\d+) of (\d+) \(([\d.]+) s of ([\d.]+) s\)",
                     src.decode_error or "")  # fmt: skip
    assert m, src.decode_error
    assert int(m[1]) == src.frames_read and int(m[2]) == whole.frame_count
    assert 0.45 * whole.frame_count < src.frames_read < 0.7 * whole.frame_count
    assert float(m[4]) == pytest.approx(whole.duration_s, abs=0.05)


def test_missing_and_unreadable_files_give_one_line(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    cfg = load_config(tmp_path / "c.yaml")
    with pytest.raises(SourceError, match="^video file not found: .*nothing.mp4$"):
        replay(tmp_path / "nothing.mp4", cfg, START, [])
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    with pytest.raises(SourceError, match=r"^cannot open video \(unknown format or corrupt file\)"):
        replay(junk, cfg, START, [])


@pytest.mark.model
def test_replay_of_a_cut_video_keeps_events_up_to_the_cut_and_reports_it(stop4, tmp_path, caplog):
    avi, config = stop4
    cfg = load_config(config)

    def run(video: Path) -> tuple[object, list[tuple[float, list[dict]]], list[dict]]:
        per_frame: list[tuple[float, list[dict]]] = []

        class Collect:
            def emit(self, msg) -> None:
                everything.append(msg.to_payload())

        def on_frame(res: FrameResult) -> None:
            per_frame.append((res.frame.t, [m.to_payload() for m in res.messages]))

        everything: list[dict] = []
        report = replay(video, cfg, START, [Collect()], progress=False, on_frame=on_frame)
        return report, per_frame, everything

    whole, whole_frames, _ = run(avi)
    assert whole.decode_error is None
    broken = cut(avi, tmp_path / "cut.avi", 0.6)
    with caplog.at_level(logging.WARNING, logger="edge.replay"):
        report, frames, emitted = run(broken)
    assert report.decode_error and report.decode_error.startswith(
        f"video stopped decoding at frame {report.frames_read} of {whole.frames_in_file} ("
    )
    assert any(report.decode_error in r.getMessage() for r in caplog.records)
    # up to the cut, the same frames with the same messages (ids included) as the whole file
    assert frames == whole_frames[: len(frames)]
    assert report.duration_s < 0.7 * whole.duration_s
    events = [p for p in emitted if p["schema"] == "exteros.event/1"]
    # the table zone and the store its camera counts: one visit each, both discovered
    by_location: dict[str, list[str]] = {}
    for e in events:
        by_location.setdefault(e["location"], []).append(e["kind"])
    assert by_location == {loc: ["impression", "discovery"] for loc in cfg.cameras[0].locations()}
    assert len(by_location) == 2
    # the visits open at the cut are closed and summarised at the end of what was read
    summaries = [p for p in emitted if p["schema"] == "exteros.visit/1"]
    assert sorted(s["visit_id"] for s in summaries) == sorted(
        e["visit_id"] for e in events if e["kind"] == "impression"
    )
