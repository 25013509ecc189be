"""Scenario specifications: who walks where and when, and which zones are watched.

Paths are keyframes of the feet point (floor contact, image pixels of the
1280x720 frame) over time; between keyframes a person moves in a straight line
at constant speed. A ``PathBuilder`` turns "walk there at 1.1 m/s, stand 4 s"
into keyframes using the depth scale of the scene.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

from edge.scenarios.scene import Layout, px_per_m

Key = tuple[float, float, float]  # t (s), feet x, feet y (px)


@dataclass(frozen=True)
class Actor:
    """One person: which sprite, how it is dressed, where it goes."""

    pid: str
    sprite: str  # a key of sprites.SOURCES
    keys: tuple[Key, ...]
    flip: bool = False
    recolor: str | None = None  # a key of render.RECOLORS
    scale: float = 1.0  # body height relative to 1.75 m
    sway: float = 1.0  # how much the person sways when standing
    # Intervals (t0, t1) in which the person reaches out sideways with the right arm (the
    # sprite must have shoulder, elbow and wrist keypoints 6, 8, 10).
    reaches: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Zone:
    """A watched location: its floor polygon and product areas, in pixels."""

    location: str
    polygon: tuple[tuple[float, float], ...]
    product_areas: tuple[tuple[tuple[float, float], ...], ...] = ()


@dataclass(frozen=True)
class Burst:
    """Frames in [t0, t1) get sensor noise of ``sigma`` or JPEG compression at ``jpeg_q``."""

    t0: float
    t1: float
    sigma: float = 0.0
    jpeg_q: int = 0


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    description: str
    duration_s: float
    actors: tuple[Actor, ...]
    zones: tuple[Zone, ...]
    layout: Layout = field(default_factory=Layout)
    bursts: tuple[Burst, ...] = ()
    # Where a camera-stall variant freezes the picture (start time); None = not offered.
    stall_at: float | None = None
    # The store the camera also counts (config ``store:``): the union of the zones.
    store: str | None = None

    def digest(self, **extra: object) -> str:
        blob = json.dumps({"spec": asdict(self), **extra}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class PathBuilder:
    """Keyframes from walking and standing instructions."""

    def __init__(self, t: float, x: float, y: float) -> None:
        self.keys: list[Key] = [(round(t, 4), float(x), float(y))]

    @property
    def t(self) -> float:
        return self.keys[-1][0]

    def walk(self, x: float, y: float, mps: float = 1.1) -> PathBuilder:
        _, x0, y0 = self.keys[-1]
        dist_px = math.hypot(x - x0, y - y0)
        scale = px_per_m((y + y0) / 2)
        dt = dist_px / (mps * scale) if dist_px else 0.0
        self.keys.append((round(self.t + dt, 4), float(x), float(y)))
        return self

    def stand(self, seconds: float) -> PathBuilder:
        _, x, y = self.keys[-1]
        self.keys.append((round(self.t + seconds, 4), x, y))
        return self

    def step(self, x: float, y: float, seconds: float) -> PathBuilder:
        """A short move taking exactly ``seconds`` (a step towards a table)."""
        self.keys.append((round(self.t + seconds, 4), float(x), float(y)))
        return self

    def build(self) -> tuple[Key, ...]:
        return tuple(self.keys)


def position(keys: tuple[Key, ...], t: float) -> tuple[float, float, float] | None:
    """(x, y, speed px/s) at time t, or None when the person is not in the scene."""
    if t < keys[0][0] or t > keys[-1][0]:
        return None
    for (t0, x0, y0), (t1, x1, y1) in zip(keys, keys[1:], strict=False):
        if t0 <= t <= t1:
            if t1 <= t0:
                return x1, y1, 0.0
            a = (t - t0) / (t1 - t0)
            speed = math.hypot(x1 - x0, y1 - y0) / (t1 - t0)
            return x0 + a * (x1 - x0), y0 + a * (y1 - y0), speed
    _, x, y = keys[-1]
    return x, y, 0.0
