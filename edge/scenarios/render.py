"""Rendering: composite the sprites along their paths onto the shop, frame by frame.

Besides the pixels, every frame records per person what a careful annotator
would write down: the feet point (floor contact), the box of the visible body,
the visible fraction (after other people and the occluder), and where the wrists
are. The ground truth is computed from these records, not from the detector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from edge.modelzoo import WRISTS
from edge.scenarios import scene
from edge.scenarios.spec import Actor, ScenarioSpec, position
from edge.scenarios.sprites import Sprite, load_sprite

REACH_ANGLE = 60.0  # degrees the arm swings out from hanging down when reaching
REACH_RAMP_S = 0.4  # time to swing it out (and back)


def _recolor_grey(bgr: np.ndarray) -> np.ndarray:
    """The cream fleece becomes a blue-grey coat (skin and jeans are saturated: kept)."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    coat = (hsv[..., 1] < 70) & (hsv[..., 2] > 120)
    out = bgr.copy()
    out[coat] = (out[coat].astype(np.float32) * np.array([0.62, 0.55, 0.48])).astype(np.uint8)
    return out


def _recolor_green(bgr: np.ndarray) -> np.ndarray:
    """The red shirt becomes green."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    red = ((hsv[..., 0] < 10) | (hsv[..., 0] > 170)) & (hsv[..., 1] > 110) & (hsv[..., 2] > 60)
    hsv[..., 0][red] = 60
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


RECOLORS = {"grey": _recolor_grey, "green": _recolor_green}


@dataclass
class _Look:
    rgba: np.ndarray
    keypoints: dict[int, tuple[float, float]]
    anchor_x: float  # x of the feet point (bottom centre of the body) in rgba


def _reaching(rgba: np.ndarray, kp: dict[int, tuple[float, float]], angle: float) -> _Look:
    """The sprite with its right arm (image left) swung out sideways by ``angle`` degrees.

    The arm is a strip along shoulder-elbow-wrist; only its outer half is taken off the
    body (so the torso keeps no hole), the whole strip is rotated about the shoulder and a
    hand is drawn at the end of the sleeve in the colour of the face.
    """
    h, w = rgba.shape[:2]
    sh, el, wr = (np.array(kp[i], float) for i in (6, 8, 10))
    strip = np.zeros((h, w), np.uint8)
    pts = [tuple(int(v) for v in p) for p in (sh, el, wr)]
    for p0, p1 in zip(pts, pts[1:], strict=False):
        cv2.line(strip, p0, p1, 255, max(int(0.085 * h), 2))
    strip &= (rgba[..., 3] > 0).astype(np.uint8) * 255
    pad = int(0.45 * h)
    big = np.zeros((h, w + 2 * pad, 4), np.uint8)
    big[:, pad : pad + w] = rgba
    arm_mask = np.zeros((h, w + 2 * pad), np.uint8)
    arm_mask[:, pad : pad + w] = strip
    arm = big.copy()
    arm[..., 3] = np.where(arm_mask > 0, big[..., 3], 0)
    nx, ny = (int(v) for v in kp[0])
    skin = np.median(rgba[ny : ny + 12, nx - 8 : nx + 8, :3].reshape(-1, 3), axis=0)
    hx, hy = int(wr[0] + pad), int(wr[1] + 0.035 * h)
    axes = (max(int(0.022 * h), 1), max(int(0.04 * h), 1))
    cv2.ellipse(arm, (hx, hy), axes, 0, 0, 360, (*(int(c) for c in skin), 255), -1)
    cv2.ellipse(arm, (hx, hy), axes, 0, 0, 360, (*(int(c * 0.7) for c in skin), 255), 1)
    body = big.copy()
    outer = arm_mask.copy()
    outer[:, int(sh[0] + pad - 0.005 * h) :] = 0
    body[..., 3][outer > 0] = 0
    m = cv2.getRotationMatrix2D((sh[0] + pad, sh[1]), -angle, 1.0)
    rot = cv2.warpAffine(
        arm, m, (big.shape[1], h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)
    )
    a = rot[..., 3:4].astype(np.uint16)
    out = body.copy()
    out[..., :3] = ((rot[..., :3] * a + body[..., :3] * (255 - a) + 127) // 255).astype(np.uint8)
    out[..., 3] = np.maximum(body[..., 3], rot[..., 3])
    kps = {i: (x + pad, y) for i, (x, y) in kp.items()}
    wx, wy = m @ np.array([wr[0] + pad, wr[1], 1.0])
    kps[10] = (float(wx), float(wy))
    return _Look(out, kps, w / 2 + pad)


@cache
def _look(sprite: str, flip: bool, recolor: str | None, arm: int = 0) -> _Look:
    s: Sprite = load_sprite(sprite)
    rgba = s.rgba.copy()
    if recolor:
        rgba[..., :3] = RECOLORS[recolor](np.ascontiguousarray(rgba[..., :3]))
    look = _reaching(rgba, s.keypoints, arm) if arm else _Look(rgba, dict(s.keypoints), 0.0)
    if not arm:
        look.anchor_x = rgba.shape[1] / 2
    if flip:
        w = look.rgba.shape[1]
        look = _Look(
            np.ascontiguousarray(look.rgba[:, ::-1]),
            {i: (w - 1 - x, y) for i, (x, y) in look.keypoints.items()},
            w - look.anchor_x,
        )
    return look


@cache
def _scaled(sprite: str, flip: bool, recolor: str | None, arm: int, height: int) -> np.ndarray:
    look = _look(sprite, flip, recolor, arm)
    h, w = look.rgba.shape[:2]
    width = max(int(round(w * height / h)), 2)
    return cv2.resize(look.rgba, (width, height), interpolation=cv2.INTER_AREA)


def arm_angle(actor: Actor, t: float) -> int:
    """How far the arm is swung out at t (degrees, in steps of 5 for caching)."""
    best = 0.0
    for t0, t1 in actor.reaches:
        if t0 <= t <= t1:
            ramp = min(t - t0, t1 - t, REACH_RAMP_S) / REACH_RAMP_S
            best = max(best, ramp * REACH_ANGLE)
    return int(round(best / 5.0) * 5)


@dataclass
class PersonFrame:
    """What an annotator records for one person in one frame."""

    feet: tuple[float, float]  # floor contact point (px)
    box: tuple[int, int, int, int] | None  # visible-in-frame body box, None if out of frame
    visible: float  # fraction of the body's pixels that can be seen
    wrists: dict[int, tuple[float, float]]
    moving: bool


def _stable_phase(pid: str) -> float:
    return (int.from_bytes(pid.encode()[:4].ljust(4, b"\0"), "little") % 1000) / 1000.0


def render_person(
    actor: Actor, t: float
) -> tuple[np.ndarray, int, int, dict[int, tuple[float, float]], tuple[float, float], bool] | None:
    """The transformed sprite (BGRA), its top-left corner, the wrists, feet and moving flag."""
    pos = position(actor.keys, t)
    if pos is None:
        return None
    x, y, speed = pos
    h = scene.person_height(y) * actor.scale
    phase = _stable_phase(actor.pid) * 2 * math.pi
    moving = speed > 5.0
    if moving:
        bob = -abs(math.sin(2 * math.pi * 1.0 * t + phase)) * 0.012 * h
        rot = 1.4 * math.sin(2 * math.pi * 1.0 * t + phase)
        dx = 0.0
    else:
        bob = 0.0
        rot = actor.sway * 0.9 * math.sin(2 * math.pi * t / 3.1 + phase)
        dx = actor.sway * 0.006 * h * math.sin(2 * math.pi * t / 2.3 + phase)
    height = max(int(round(h)), 8)
    arm = arm_angle(actor, t)
    img = _scaled(actor.sprite, actor.flip, actor.recolor, arm, height)
    look = _look(actor.sprite, actor.flip, actor.recolor, arm)
    s = height / look.rgba.shape[0]
    sh, sw = img.shape[:2]
    ax = look.anchor_x * s
    pad = int(math.ceil(abs(math.sin(math.radians(rot))) * sh)) + 2
    # Rotate about the feet (bottom centre of the body) inside a canvas padded left and right.
    m = cv2.getRotationMatrix2D((ax, sh - 1), rot, 1.0)
    m[0, 2] += pad
    canvas = cv2.warpAffine(
        img, m, (sw + 2 * pad, sh), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0)
    )
    left = x + dx - (ax + pad)
    top = y + bob - (sh - 1)
    ox, oy = int(round(left)), int(round(top))
    wrists = {}
    for i in WRISTS:
        if i in look.keypoints:
            kx, ky = look.keypoints[i]
            px, py = kx * s, ky * s
            rx = m[0, 0] * px + m[0, 1] * py + m[0, 2]
            ry = m[1, 0] * px + m[1, 1] * py + m[1, 2]
            wrists[i] = (ox + rx, oy + ry)
    # Rounded at the source so the truth file and the truth computation see the same point.
    return canvas, ox, oy, wrists, (round(x, 2), round(y, 2)), moving


def _blend(
    frame: np.ndarray, rgba: np.ndarray, ox: int, oy: int
) -> tuple[slice, slice, np.ndarray]:
    """Alpha-blend rgba onto frame at (ox, oy); returns the frame slices and the clipped alpha."""
    fh, fw = frame.shape[:2]
    h, w = rgba.shape[:2]
    x0, y0 = max(ox, 0), max(oy, 0)
    x1, y1 = min(ox + w, fw), min(oy + h, fh)
    if x1 <= x0 or y1 <= y0:
        return slice(0, 0), slice(0, 0), np.zeros((0, 0), np.uint8)
    part = rgba[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    a = part[..., 3:4].astype(np.uint16)
    roi = frame[y0:y1, x0:x1]
    roi[:] = ((part[..., :3] * a + roi * (255 - a) + 127) // 255).astype(np.uint8)
    return slice(y0, y1), slice(x0, x1), part[..., 3]


class Renderer:
    """Draws frames of one scenario and records what is visible."""

    def __init__(self, spec: ScenarioSpec, seed: int = 0) -> None:
        self.spec = spec
        self.background = scene.draw_background(spec.layout, seed)
        self.pillar = scene.pillar_mask() if spec.layout.pillar else None
        if spec.layout.pillar:
            self.pillar_img = self.background.copy()
            scene.draw_pillar(self.pillar_img)
        rng = np.random.default_rng(seed)
        # A few precomputed noise fields (cycled) keep noise cheap: mild sensor noise always.
        self._noise = []
        for _ in range(3):
            n = rng.normal(0.0, 1.0, (scene.HEIGHT, scene.WIDTH, 3)).astype(np.float32)
            self._noise.append(n)
        # Mild sensor noise on every frame (sigma 1.5) as saturating uint8 adds: cheap.
        self._mild = [
            (np.clip(n * 1.5, 0, 255).astype(np.uint8), np.clip(-n * 1.5, 0, 255).astype(np.uint8))
            for n in self._noise
        ]
        self._full_area: dict[str, int] = {}

    def frame(self, t: float, index: int) -> tuple[np.ndarray, dict[str, PersonFrame]]:
        frame = self.background.copy()
        ids = np.zeros(frame.shape[:2], np.uint8)
        drawn = []
        for actor in self.spec.actors:
            r = render_person(actor, t)
            if r is not None:
                drawn.append((r[4][1], actor, r))
        drawn.sort(key=lambda d: d[0])  # far (small y) first, near last
        info: dict[str, PersonFrame] = {}
        areas: dict[str, int] = {}
        rois: dict[str, tuple[slice, slice]] = {}
        for k, (_, actor, (rgba, ox, oy, wrists, feet, moving)) in enumerate(drawn, start=1):
            ys, xs, alpha = _blend(frame, rgba, ox, oy)
            areas[actor.pid] = int((rgba[..., 3] > 127).sum())
            if alpha.size:
                ids[ys, xs][alpha > 127] = k
            rois[actor.pid] = (ys, xs)
            info[actor.pid] = PersonFrame(feet, None, 0.0, wrists, moving)
        if self.pillar is not None:
            on = self.pillar > 0
            frame[on] = self.pillar_img[on]
            ids[on] = 0
        for k, (_, actor, _) in enumerate(drawn, start=1):
            ys, xs = rois[actor.pid]
            sub = ids[ys, xs] == k
            count = int(sub.sum())
            pf = info[actor.pid]
            if count:
                rows = np.flatnonzero(sub.any(axis=1))
                cols = np.flatnonzero(sub.any(axis=0))
                pf.box = (
                    xs.start + int(cols[0]),
                    ys.start + int(rows[0]),
                    xs.start + int(cols[-1]) + 1,
                    ys.start + int(rows[-1]) + 1,
                )
                pf.visible = round(count / max(areas[actor.pid], 1), 3)
        frame = self._degrade(frame, t, index)
        return frame, info

    def _degrade(self, frame: np.ndarray, t: float, index: int) -> np.ndarray:
        sigma, jpeg_q = 1.5, 0
        for b in self.spec.bursts:
            if b.t0 <= t < b.t1:
                sigma = max(sigma, b.sigma)
                jpeg_q = b.jpeg_q or jpeg_q
        k = index % len(self._noise)
        if sigma <= 1.5:
            pos, neg = self._mild[k]
            out = cv2.subtract(cv2.add(frame, pos), neg)
        else:
            out = np.clip(frame + self._noise[k] * sigma, 0, 255).astype(np.uint8)
        if jpeg_q:
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, jpeg_q])
            decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            if decoded is None:  # pragma: no cover - a JPEG we just encoded
                raise RuntimeError("cannot decode the degraded frame")
            out = decoded
        return out


def script_frame(spec: ScenarioSpec, t: float) -> dict[str, PersonFrame]:
    """Feet and wrists of everybody at t without drawing anything (for truth-only checks)."""
    out = {}
    for actor in spec.actors:
        r = render_person(actor, t)
        if r is not None:
            out[actor.pid] = PersonFrame(r[4], None, 0.0, r[3], r[5])
    return out
