"""The torch-free tracker (edge/track.py) on scripted detections: ids, thresholds, buffer, colour.

Frames come at 8 per second unless a test says otherwise; boxes are pixels of a 320x240
frame (tests/support/fake_detector.py paints them when a test needs colours).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence

import numpy as np
import pytest

from edge.appearance import DIM
from edge.config import ModelConfig
from edge.detector import Detections
from edge.track import ColourBoTSORT, Tracker, buffer_frames, make_tracker
from edge.tracking import PersonTracker
from tests.support.fake_detector import Person, detections_of, render, standing

FPS = 8.0
# Most tests here are of ColourBoTSORT (colour, kept size); the default tracker's are last.
RED, BLUE = (20, 20, 200), (200, 40, 20)


def run(
    tracker: Tracker, frames: Sequence[Sequence[Person]], colours: bool = True
) -> list[dict[float, int]]:
    """Per frame: the index of each tracked person in the frame's list -> its track id (a
    track's box is the Kalman estimate: its person is the nearest scripted box)."""
    out = []
    for people in frames:
        dets = detections_of(people)
        tracks = tracker.update(dets, render(people) if colours else None)
        near = {int(np.abs(dets.xyxy - np.asarray(t.xyxy)).sum(axis=1).argmin()): t.track_id
                for t in tracks}  # fmt: skip
        out.append(near)
    return out


def ids(frames: list[dict[float, int]]) -> list[list[int]]:
    return [sorted(f.values()) for f in frames]


def walker(x0: float, dx: float, colour: tuple[int, int, int] = RED, conf: float = 0.9):
    def at(k: int) -> Person:
        return standing(x0 + dx * k, 200, 120, colour, conf)

    return at


def test_a_track_keeps_its_id_across_a_missed_frame():
    p = walker(40, 6)
    frames = [[p(k)] if k != 4 else [] for k in range(9)]
    got = run(make_tracker(ModelConfig(tracker="botsort"), FPS), frames)
    assert ids(got) == [[1], [1], [1], [1], [], [1], [1], [1], [1]]


def test_a_new_track_shows_from_its_second_box_except_on_the_first_frame():
    first, later = walker(40, 0), walker(200, 0, BLUE)
    frames = [[first(k)] + ([later(k)] if k >= 3 else []) for k in range(6)]
    got = run(make_tracker(ModelConfig(tracker="botsort"), FPS), frames)
    assert ids(got) == [[1], [1], [1], [1], [1, 2], [1, 2]]


@pytest.mark.parametrize("appearance", [True, False])
def test_two_people_crossing_keep_their_ids(appearance):
    # they walk towards each other, 12 px a frame each, and overlap fully at frame 6
    a, b = walker(40, 12, RED), walker(184, -12, BLUE)
    frames = [[a(k), b(k)] for k in range(13)]
    got = run(make_tracker(ModelConfig(tracker="botsort", appearance=appearance), FPS), frames)
    for k, f in enumerate(got):
        if k == 6:
            continue  # identical boxes: which left edge is whose is moot
        assert f == {0: 1, 1: 2}, (k, f)


def test_low_confidence_boxes_continue_a_track_but_never_start_one():
    tracked, faint = walker(40, 4), walker(220, 0, BLUE, conf=0.15)
    # the tracked person fades to 0.15 (above the detector's 0.1 floor, below conf 0.25)
    frames = [
        [tracked(k) if k < 3 else standing(40 + 4 * k, 200, 120, RED, 0.15), faint(k)]
        for k in range(8)
    ]
    got = run(make_tracker(ModelConfig(tracker="botsort"), FPS), frames)
    assert ids(got) == [[1]] * 8


def test_boxes_between_conf_and_the_start_threshold_keep_but_do_not_start_tracks():
    # conf 0.25 (default): a 0.27 box matches in the first stage, a new track needs 0.3
    tracked, unsure = walker(40, 4), walker(220, 0, BLUE, conf=0.27)
    frames = [[tracked(k) if k < 2 else standing(40 + 4 * k, 200, 120, RED, 0.27), unsure(k)]
              for k in range(6)]  # fmt: skip
    got = run(make_tracker(ModelConfig(tracker="botsort"), FPS), frames)
    assert ids(got) == [[1]] * 6
    # a camera's own track_conf is the start threshold too
    got = run(make_tracker(ModelConfig(tracker="botsort"), FPS, track_conf=0.2), frames)
    assert ids(got)[-1] == [1, 2]


@pytest.mark.parametrize(("buffer_s", "fps"), [(1.0, 8.0), (2.0, 8.0), (2.0, 4.0)])
def test_the_track_buffer_is_in_seconds(buffer_s, fps):
    frames_kept = buffer_frames(buffer_s, fps)
    assert frames_kept == round(buffer_s * fps)
    cfg = ModelConfig(tracker="botsort", track_buffer_s=buffer_s)
    p = walker(100, 0)
    for gap, same in ((frames_kept, True), (frames_kept + 1, False)):
        tracker = make_tracker(cfg, fps)
        got = run(tracker, [[p(0)]] * 3 + [[]] * gap + [[p(0)]] * 2)
        assert tracker.has_tracks
        assert (got[-1] == {0: 1}) is same, (gap, got[-2:])


def test_has_tracks_until_the_buffer_runs_out():
    tracker = make_tracker(ModelConfig(tracker="botsort", track_buffer_s=0.5), FPS)
    assert not tracker.has_tracks
    run(tracker, [[walker(100, 0)(0)]] * 2)
    assert tracker.has_tracks
    run(tracker, [[]] * 4)
    assert tracker.has_tracks
    run(tracker, [[]])
    assert not tracker.has_tracks


def test_a_lost_track_keeps_its_size_until_the_person_is_found_again():
    # walking away: the box shrinks 8 px a frame; hidden 1 s; found again at its last size
    # (a prediction that kept shrinking it would no longer overlap the box enough)
    def box(h: float, conf: float = 0.9) -> Detections:
        return Detections(np.array([[100, 200 - h, 100 + 0.4 * h, 200]], np.float32),
                          np.array([conf], np.float32), np.zeros(1, np.float32), None)  # fmt: skip

    tracker = make_tracker(ModelConfig(tracker="botsort"), FPS)
    for k in range(8):
        assert [t.track_id for t in tracker.update(box(200 - 8 * k))] == [1]
    for _ in range(8):
        tracker.update(Detections.empty())
    assert [t.track_id for t in tracker.update(box(200 - 8 * 7, conf=0.6))] == [1]


def swap_frames() -> list[Detections]:
    """Two people side by side, then their boxes shift so that box overlap alone swaps them.

    Red is at x 0..100, blue at 40..140 for three frames; then red's box moves to 30..130
    and blue's to 10..110: each new box overlaps the other person's old box more (IoU 0.82
    vs 0.54), but its own enough for colour to count (>= 0.3).
    """
    red, blue = np.zeros(DIM, np.float32), np.zeros(DIM, np.float32)
    red[0], blue[40] = 1.0, 1.0  # unrelated colours: similarity (1 + 0) / 2 = 0.5

    def dets(red_x: float, blue_x: float) -> Detections:
        d = Detections(np.array([[red_x, 0, red_x + 100, 200], [blue_x, 0, blue_x + 100, 200]],
                                np.float32),
                       np.array([0.9, 0.9], np.float32), np.zeros(2, np.float32), None)  # fmt: skip
        d.appearance = np.stack([red, blue])
        return d

    return [dets(0, 40)] * 3 + [dets(30, 10)]


@pytest.mark.parametrize(("appearance", "red_id"), [(True, 1), (False, 2)])
def test_colour_keeps_identities_where_box_overlap_would_swap_them(appearance, red_id):
    tracker = make_tracker(ModelConfig(tracker="botsort", appearance=appearance), FPS)
    tracks: list = []
    for d in swap_frames():
        tracks = tracker.update(d, None)
    red = [t for t in tracks if t.appearance is not None and t.appearance[0] == 1.0]
    assert [t.track_id for t in red] == [red_id]


def test_colour_never_links_boxes_that_barely_overlap():
    tracker = make_tracker(ModelConfig(tracker="botsort"), FPS)
    assert isinstance(getattr(tracker, "_tracker", None), ColourBoTSORT)
    col = np.zeros(DIM, np.float32)
    col[3] = 1.0

    def at(x: float) -> Detections:
        d = Detections(np.array([[x, 0, x + 100, 200]], np.float32), np.array([0.9], np.float32),
                       np.zeros(1, np.float32), None)  # fmt: skip
        d.appearance = col[None, :]
        return d

    for d in (at(0), at(0), at(0)):
        tracker.update(d, None)
    # same colours, but IoU 0.18 with the track: a new person, not a jump
    assert [t.track_id for t in tracker.update(at(70), None)] == []
    assert [t.track_id for t in tracker.update(at(70), None)] == [2]


def test_tracks_carry_each_box_descriptor_keypoints_and_confidence():
    p = standing(100, 200, 120, RED, 0.8)
    tracker = PersonTracker(ModelConfig(tracker="botsort"), FPS)
    d = detections_of([p])
    (tr,) = tracker.update(d, render([p]))
    assert tr.track_id == 1 and tr.conf == pytest.approx(0.8)
    assert tr.appearance is not None and tr.appearance.shape == (DIM,)
    assert d.appearance is not None  # computed once, kept on the detections for the pipeline
    assert tr.keypoints is not None and tr.keypoints.shape == (17, 3)
    assert np.allclose(tr.xyxy, p.box, atol=0.5)
    assert tracker.update(Detections.empty(), None) == []


@pytest.mark.parametrize("name", ["bytetrack", "botsort", "ocsort"])
def test_every_tracker_name_follows_one_walker(name):
    p = walker(40, 5)
    got = run(make_tracker(ModelConfig(tracker=name), FPS), [[p(k)] for k in range(10)])
    assert {i for f in got for i in f.values()} == {1}
    assert all(got[k] for k in range(3, 10))


def test_the_default_is_bytetrack_and_it_keeps_ids_through_gaps_within_the_buffer():
    assert ModelConfig().tracker == "bytetrack"
    a, b = walker(40, 6), walker(250, -6, BLUE)
    frames = [[a(k), b(k)] if k not in (4, 5) else [] for k in range(12)]
    got = run(make_tracker(ModelConfig(), FPS), frames)
    # the first frame's people get their ids at once; a 2-frame gap keeps both ids
    assert all(ids(got)[k] == [1, 2] for k in (0, 1, 2, 3, 6, 7, 8, 11))
    assert got[0] == got[11] == {0: got[0][0], 1: got[0][1]}
    # someone arriving later shows from their second box (ByteTrack's confirmation)
    late = [[a(0)]] * 3 + [[a(0), b(0)]] * 2
    got = run(make_tracker(ModelConfig(), FPS), late)
    assert ids(got) == [[1], [1], [1], [1], [1, 2]]
    # and the buffer is in seconds: 1 s at 8 frames/s keeps a track 8 missed frames, not 9
    p = walker(100, 0)
    for gap, same in ((8, True), (9, False)):
        tracker = make_tracker(ModelConfig(track_buffer_s=1.0), FPS)
        got = run(tracker, [[p(0)]] * 3 + [[]] * gap + [[p(0)]] * 2)
        assert (got[-1] == {0: 1}) is same, (gap, got[-2:])


def test_deepocsort_falls_back_to_ocsort_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="edge.track"):
        tracker = make_tracker(ModelConfig(tracker="deepocsort"), FPS)
    assert "deepocsort is not available without torch: using ocsort" in caplog.text
    assert tracker.has_tracks is False


def test_the_tracker_imports_without_torch():
    code = ("import sys, edge.track, edge.tracking; "
            "print(sorted(m for m in ('torch', 'ultralytics') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
