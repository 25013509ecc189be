"""Polygons (edge/geometry.py): relative polygon checks, inclusive pixel tests, floor areas."""

from __future__ import annotations

import numpy as np
import pytest

from edge.geometry import PixelPolygon, clamp_point, polygon_area_m2, validate_relative_polygon

SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([[0, 0], [1, 0], [1, 1]], [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0)]),
        ([(0.25, 0.5), (0.75, 0.5), (0.5, 1)], [(0.25, 0.5), (0.75, 0.5), (0.5, 1.0)]),
        (SQUARE, SQUARE),
    ],
)
def test_valid_polygons_come_back_as_float_pairs(points, expected):
    assert validate_relative_polygon(points) == expected


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0, 0], [1, 0], [1, 1, 0]], "point 2 must be [x, y], got [1, 1, 0]"),
        ([[0, 0], [1, 0], [float("nan"), 1]], "point 2 is not finite"),
        ([[0, 0], [1, 0], [float("inf"), 1]], "point 2 is not finite"),
        ([[0, 0], [1.5, 0], [1, 1]], "point 1 [1.5, 0.0] is outside 0..1 (coordinates are "
                                     "relative to the frame)"),
        ([[0, 0], [1, -0.1], [1, 1]], "point 1 [1.0, -0.1] is outside 0..1"),
        ([[0, 0], [1, 1]], "needs at least 3 points, got 2 distinct"),
        ([[0, 0], [1, 1], [0, 0], [1, 1]], "needs at least 3 points, got 2 distinct"),
        ([[0, 0], [0.5, 0.5], [1, 1]], "has no area (all points on one line)"),
        ([[0, 0], [1, 1], [1, 0], [0, 1]], "is self-intersecting (Self-intersection"),
    ],
)  # fmt: skip
def test_bad_polygons_name_the_problem(points, message):
    with pytest.raises(ValueError) as exc:
        validate_relative_polygon(points)
    assert str(exc.value).startswith(message), str(exc.value)


def test_whole_frame_polygon_holds_every_pixel_including_the_last_row_and_column():
    poly = PixelPolygon(SQUARE, 64, 48)
    for x, y in [(0, 0), (63, 0), (63, 47), (0, 47), (31.5, 23.5)]:
        assert poly.contains(x, y), (x, y)
    for x, y in [(64, 10), (10, 48), (-0.5, 10), (10, -0.01)]:
        assert not poly.contains(x, y), (x, y)


@pytest.mark.parametrize(
    ("point", "inside"),
    [
        ((50, 50), True),  # centre
        ((25.0, 50), True),  # on the left border (inclusive)
        ((24.9, 50), False),
        ((75, 75), True),  # a corner
        ((75.1, 75), False),
        ((50, 75.01), False),
    ],
)
def test_point_test_is_inclusive_on_the_border(point, inside):
    # relative (0.25..0.75) of a 101x101 frame: pixels 25..75
    poly = PixelPolygon([(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)], 101, 101)
    assert poly.contains(*point) is inside


def test_pixel_points_scale_to_the_last_pixel_and_round_to_int32():
    poly = PixelPolygon([(0, 0), (1, 0), (0.5, 1)], 321, 241)
    assert poly.points == [(0.0, 0.0), (320.0, 0.0), (160.0, 240.0)]
    assert poly.contour.shape == (3, 1, 2) and poly.contour.dtype == np.float32
    ints = poly.as_int32()
    assert ints.dtype == np.int32 and ints.reshape(-1, 2).tolist() == [[0, 0], [320, 0],
                                                                       [160, 240]]  # fmt: skip


def test_a_one_pixel_frame_does_not_divide_by_zero():
    poly = PixelPolygon(SQUARE, 1, 1)
    assert poly.contains(0, 0)


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ((10.0, 20.0), (10.0, 20.0)),
        ((-3.0, 20.0), (0.0, 20.0)),
        ((10.0, 500.0), (10.0, 239.0)),  # feet under a box that leaves the frame
        ((400.0, -1.0), (319.0, 0.0)),
    ],
)
def test_clamp_point_keeps_feet_inside_the_frame(point, expected):
    assert clamp_point(*point, 320, 240) == expected


def test_floor_area_through_a_homography():
    # the whole 101x51 frame maps onto 10 m x 5 m: 0.1 m per pixel step
    h = np.diag([0.1, 0.1, 1.0])
    assert polygon_area_m2(SQUARE, h, 101, 51) == pytest.approx(50.0)
    half = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
    assert polygon_area_m2(half, h, 101, 51) == pytest.approx(25.0)
    # a perspective homography: the same image polygon covers a different floor area
    persp = np.array([[0.1, 0, 0], [0, 0.1, 0], [0, 0.002, 1.0]])
    assert polygon_area_m2(SQUARE, persp, 101, 51) != pytest.approx(50.0)
