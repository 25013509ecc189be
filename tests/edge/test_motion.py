"""MotionGate (edge/motion.py): what counts as motion on a downscaled grey frame."""

from __future__ import annotations

import numpy as np
import pytest

from edge.motion import PIXEL_DELTA, WIDTH, MotionGate


def grey(value: int = 110, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    w, h = size
    return np.full((h, w, 3), value, np.uint8)


def with_patch(value: int, box: tuple[int, int, int, int], base: int = 110) -> np.ndarray:
    img = grey(base)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = value
    return img


def test_first_frame_counts_as_motion_then_identical_frames_do_not():
    gate = MotionGate(0.002)
    assert gate.moved(grey())
    assert not gate.moved(grey())
    assert not gate.moved(grey())


@pytest.mark.parametrize(
    ("second", "moved"),
    [
        (with_patch(200, (100, 60, 148, 180)), True),  # a person-sized box appears
        (with_patch(110 + PIXEL_DELTA - 6, (100, 60, 148, 180)), False),  # below the delta
        (grey(110 + 3), False),  # the whole picture brightens a little (noise, exposure)
        (grey(200), True),  # the light comes on
        (with_patch(250, (0, 0, 2, 2)), False),  # a few pixels: below the area threshold
    ],
)
def test_what_counts_as_motion(second, moved):
    gate = MotionGate(0.002)
    gate.moved(grey())
    assert gate.moved(second) is moved


@pytest.mark.parametrize(("threshold", "moved"), [(0.0, True), (0.01, True), (0.05, False)])
def test_the_threshold_is_a_fraction_of_the_downscaled_picture(threshold, moved):
    # a 40x40 patch of 320x240 is 2.1 % of the picture (a little more once blurred)
    gate = MotionGate(threshold)
    gate.moved(grey())
    assert gate.moved(with_patch(250, (100, 100, 140, 140))) is moved


def test_each_frame_is_compared_with_the_previous_one():
    gate = MotionGate(0.002)
    person = with_patch(30, (100, 60, 148, 180))
    assert gate.moved(grey())
    assert gate.moved(person)
    assert not gate.moved(person.copy())  # the person stands still
    assert gate.moved(grey())  # ...and leaves


def test_a_new_frame_size_counts_as_motion():
    gate = MotionGate(0.002)
    gate.moved(grey(size=(320, 240)))
    assert gate.moved(grey(size=(320, 180)))  # another aspect: another downscaled shape
    assert not gate.moved(grey(size=(320, 180)))


def test_grey_frames_and_tiny_frames_are_accepted():
    gate = MotionGate(0.002)
    assert gate.moved(np.full((240, 320), 90, np.uint8))
    assert not gate.moved(np.full((240, 320), 90, np.uint8))
    tiny = MotionGate(0.002)
    assert tiny.moved(grey(size=(WIDTH * 4, 1)))  # a 1-row strip keeps at least one row
    assert not tiny.moved(grey(size=(WIDTH * 4, 1)))
