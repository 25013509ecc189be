"""The shop the scenarios play in: a procedurally drawn background and its geometry.

A fixed camera looks down at a shop floor: a back wall with shelves and a shop
window, a tiled floor, a denim table in the middle of the floor. Depth follows a
pinhole camera over a flat floor: a person whose feet touch the floor at image
row ``y`` is ``PERSON_PER_ROW * (y - HORIZON_Y)`` pixels tall (so a 1.75 m person
is ~390 px tall near the bottom of a 720p frame and ~180 px at the back wall).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720
HORIZON_Y = 120.0  # image row of the horizon (camera height line)
PERSON_PER_ROW = 0.81  # person height in px per px of feet below the horizon (1.75 m)
WALL_Y = 290  # where the back wall meets the floor
PERSON_M = 1.75

# The denim table: front face from x0..x1 standing on row FRONT_Y, 0.85 m high.
TABLE_X0, TABLE_X1, TABLE_FRONT_Y = 290, 560, 540
TABLE_H = int(round(0.85 / PERSON_M * PERSON_PER_ROW * (TABLE_FRONT_Y - HORIZON_Y)))
TABLE_TOP_FRONT_Y = TABLE_FRONT_Y - TABLE_H
TABLE_TOP_BACK_Y = TABLE_TOP_FRONT_Y - 38

# The tall display shelf standing close to the camera (an occluder), when a scenario uses it.
PILLAR_X0, PILLAR_X1 = 400, 640


def person_height(feet_y: float) -> float:
    """Height in px of a 1.75 m person whose feet are on image row ``feet_y``."""
    return PERSON_PER_ROW * max(feet_y - HORIZON_Y, 1.0)


def px_per_m(feet_y: float) -> float:
    return person_height(feet_y) / PERSON_M


def to_rel(points: list[tuple[float, float]]) -> list[list[float]]:
    """Pixel points -> relative polygon as the edge config stores it (1.0 = last pixel)."""
    return [[round(x / (WIDTH - 1), 4), round(y / (HEIGHT - 1), 4)] for x, y in points]


@dataclass(frozen=True)
class Layout:
    """What is drawn: the table is always there; the pillar only where a scenario asks."""

    pillar: bool = False


def _towards_vp(x: float, y: float, y_to: float) -> float:
    """x of the floor line through (x, y) that runs towards the vanishing point, at row y_to."""
    vx = WIDTH / 2
    return vx + (x - vx) * (y_to - HORIZON_Y) / (y - HORIZON_Y)


def _products(img: np.ndarray, x0: int, x1: int, y_base: int, rng: np.random.Generator) -> None:
    """A row of boxes/folded goods standing on a shelf line."""
    x = x0 + 4
    while x < x1 - 12:
        w = int(rng.integers(14, 34))
        h = int(rng.integers(18, 46))
        color = tuple(int(c) for c in rng.integers(40, 230, 3))
        cv2.rectangle(img, (x, y_base - h), (min(x + w, x1 - 2), y_base), color, -1)
        cv2.rectangle(img, (x, y_base - h), (min(x + w, x1 - 2), y_base), (30, 30, 30), 1)
        x += w + int(rng.integers(2, 7))


def _jeans_pile(img: np.ndarray, x: int, y: int, w: int, layers: int, shade: int) -> None:
    for i in range(layers):
        yy = y - i * 7
        blue = (150 + shade - i * 6, 90 + shade // 2, 40)
        cv2.rectangle(img, (x, yy - 7), (x + w, yy), blue, -1)
        cv2.line(img, (x, yy), (x + w, yy), (90, 50, 20), 1)


def draw_background(layout: Layout, seed: int = 0) -> np.ndarray:
    """The empty shop, BGR uint8 (deterministic for a seed)."""
    rng = np.random.default_rng(seed + 1234)
    img = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    # Back wall: warm beige with a vertical gradient.
    for y in range(WALL_Y):
        shade = 200 - int(25 * y / WALL_Y)
        img[y, :] = (shade - 30, shade - 5, shade + 10)
    # Wall shelves with products, left of the window.
    for sy in (95, 175, 250):
        _products(img, 40, 840, sy, rng)
        cv2.rectangle(img, (36, sy), (844, sy + 8), (70, 80, 95), -1)
    # Shop window on the right: bright street light, a frame and a mullion.
    wx0, wx1, wy0, wy1 = 900, 1240, 30, 262
    for y in range(wy0, wy1):
        t = (y - wy0) / (wy1 - wy0)
        img[y, wx0:wx1] = (235 - int(40 * t), 225 - int(30 * t), 205 - int(20 * t))
    cv2.rectangle(img, (wx0, wy0), (wx1, wy1), (60, 60, 60), 10)
    cv2.line(img, ((wx0 + wx1) // 2, wy0), ((wx0 + wx1) // 2, wy1), (60, 60, 60), 8)
    # Floor: light wood planks converging to the vanishing point, darker further away.
    for y in range(WALL_Y, HEIGHT):
        t = (y - WALL_Y) / (HEIGHT - WALL_Y)
        img[y, :] = (120 + int(40 * t), 150 + int(40 * t), 175 + int(35 * t))
    for k in range(-30, 31):
        xb = WIDTH / 2 + k * 90
        xt = _towards_vp(xb, HEIGHT - 1, WALL_Y)
        cv2.line(img, (int(xt), WALL_Y), (int(xb), HEIGHT - 1), (95, 120, 140), 1, cv2.LINE_AA)
    line_y = WALL_Y + 6.0
    while line_y < HEIGHT:
        cv2.line(img, (0, int(line_y)), (WIDTH - 1, int(line_y)), (105, 130, 150), 1)
        line_y += 0.06 * (line_y - HORIZON_Y)
    cv2.line(img, (0, WALL_Y), (WIDTH - 1, WALL_Y), (60, 60, 70), 3)
    # Soft fixed grain so flat regions are not perfectly flat.
    grain = rng.normal(0, 3.0, (HEIGHT, WIDTH, 1)).astype(np.float32)
    out: np.ndarray = np.clip(img.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    _draw_table(out)
    return out


def _draw_table(img: np.ndarray) -> None:
    x0, x1 = TABLE_X0, TABLE_X1
    top_f, top_b = TABLE_TOP_FRONT_Y, TABLE_TOP_BACK_Y
    bx0 = int(_towards_vp(x0, TABLE_FRONT_Y, TABLE_FRONT_Y - 45))
    bx1 = int(_towards_vp(x1, TABLE_FRONT_Y, TABLE_FRONT_Y - 45))
    # Front face (dark wood) and top (lighter), with a shadow on the floor.
    cv2.ellipse(img, ((x0 + x1) // 2, TABLE_FRONT_Y + 2), ((x1 - x0) // 2 + 20, 10), 0, 0, 360,
                (80, 95, 110), -1)  # fmt: skip
    cv2.rectangle(img, (x0, top_f), (x1, TABLE_FRONT_Y), (40, 60, 85), -1)
    cv2.rectangle(img, (x0 + 8, top_f + 10), (x1 - 8, TABLE_FRONT_Y - 8), (50, 72, 98), 2)
    top = np.array([(x0 - 6, top_f), (x1 + 6, top_f), (bx1 + 4, top_b), (bx0 - 4, top_b)])
    cv2.fillPoly(img, [top.astype(np.int32)], (95, 130, 160))
    cv2.polylines(img, [top.astype(np.int32)], True, (40, 55, 70), 2)
    # Piles of folded jeans on the top; the tall one at the right end is the product area.
    for i, px in enumerate(range(x0 + 14, x1 - 100, 52)):
        _jeans_pile(img, px, top_f - 8, 40, 3 + (i % 3), (i * 17) % 40)
    _jeans_pile(img, x1 - 62, top_f - 8, 48, 6, 20)


def pillar_mask() -> np.ndarray:
    """Pixels of the foreground display shelf (an occluder in front of everybody)."""
    m = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.rectangle(m, (PILLAR_X0, 0), (PILLAR_X1, HEIGHT - 1), 255, -1)
    return m


def draw_pillar(img: np.ndarray) -> None:
    x0, x1 = PILLAR_X0, PILLAR_X1
    img[:, x0 : x1 + 1] = (70, 78, 88)
    cv2.rectangle(img, (x0, 0), (x1, HEIGHT - 1), (35, 40, 45), 4)
    rng = np.random.default_rng(7)
    for sy in range(90, HEIGHT, 110):
        _products(img, x0 + 6, x1 - 6, sy, rng)
        cv2.rectangle(img, (x0 + 4, sy), (x1 - 4, sy + 10), (45, 50, 58), -1)
