"""Render a camera's zones, product areas, counts and a heatmap onto its snapshot.

Pure drawing: takes an image and plain values, returns a new image. The panel
with the camera summary is appended *below* the frame, so every pixel of the
frame keeps its coordinates (and nothing hides a zone).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.config import CameraConfig
from edge.geometry import PixelPolygon
from exteros.contract import KIND_ORDER, EventKind

# BGR, distinct on typical store footage; the editor page uses the same list.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (40, 200, 255),  # amber
    (255, 160, 30),  # blue
    (90, 220, 60),  # green
    (200, 80, 230),  # magenta
    (60, 60, 240),  # red
    (220, 220, 40),  # cyan
    (160, 120, 255),  # pink
    (30, 140, 120),  # olive
)
Colour = tuple[int, int, int]  # BGR, as OpenCV draws
FILL_ALPHA = 0.35  # zone fill: 35 % colour over the frame
AREA_ALPHA = 0.55  # product areas are filled stronger to stand out inside their zone
FONT = cv2.FONT_HERSHEY_SIMPLEX


def zone_colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def hex_colour(bgr: tuple[int, int, int]) -> str:
    b, g, r = bgr
    return f"#{r:02x}{g:02x}{b:02x}"


@dataclass
class Overlay:
    """What to draw besides the zones (all optional)."""

    event_counts: Mapping[str, Counter[EventKind]] | None = None
    people_counts: Mapping[str, int] | None = None
    heat_points: np.ndarray | None = None  # (N, 2) feet points in pixels
    areas_m2: Mapping[str, float] | None = None
    notes: list[str] = field(default_factory=list)  # lines for the panel below the frame


def _blend_polygon(img: np.ndarray, pts: np.ndarray, colour: Colour, alpha: float) -> None:
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.fillPoly(mask, [pts], 255)
    sel = mask > 0
    img[sel] = (
        (img[sel] * (1 - alpha) + np.asarray(colour, np.float64) * alpha).round().astype(np.uint8)
    )


def heatmap(img: np.ndarray, points: np.ndarray, max_alpha: float = 0.6) -> np.ndarray:
    """Feet points as a coloured density, transparent where nobody stood."""
    h, w = img.shape[:2]
    if points is None or len(points) == 0:
        return img
    f = 4  # accumulate at quarter resolution: smooth and cheap
    hh, ww = max(h // f, 1), max(w // f, 1)
    acc = np.zeros((hh, ww), np.float32)
    xs = np.clip((points[:, 0] / f).astype(int), 0, ww - 1)
    ys = np.clip((points[:, 1] / f).astype(int), 0, hh - 1)
    np.add.at(acc, (ys, xs), 1.0)
    sigma = max(ww / 60, 1.5)
    acc = cv2.GaussianBlur(acc, (0, 0), sigma)
    if acc.max() <= 0:
        return img
    norm = cv2.resize(acc / acc.max(), (w, h), interpolation=cv2.INTER_LINEAR)
    colours = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_JET)
    alpha = (np.clip(norm * 1.5, 0, 1) * max_alpha)[..., None]
    alpha[norm < 0.03] = 0
    blended: np.ndarray = (img * (1 - alpha) + colours * alpha).round().astype(np.uint8)
    return blended


def _label(
    img: np.ndarray, lines: Sequence[str], x: int, y: int, colour: Colour, scale: float
) -> None:
    thick = max(1, round(scale * 2))
    sizes = [cv2.getTextSize(t, FONT, scale, thick)[0] for t in lines]
    lh = max(s[1] for s in sizes) + max(4, round(8 * scale))
    bw = max(s[0] for s in sizes) + 10
    bh = lh * len(lines) + 6
    h, w = img.shape[:2]
    x = int(min(max(x, 0), max(w - bw, 0)))
    y = int(min(max(y, 0), max(h - bh, 0)))
    roi = img[y : y + bh, x : x + bw]
    roi[:] = (roi * 0.3).astype(np.uint8)
    cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), colour, 1)
    for i, t in enumerate(lines):
        base = y + 3 + lh * (i + 1) - max(3, round(6 * scale))
        cv2.putText(img, t, (x + 5, base), FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)


def render(image: np.ndarray, camera: CameraConfig, overlay: Overlay | None = None) -> np.ndarray:
    """The frame with every zone and product area filled, outlined and labelled."""
    ov = overlay or Overlay()
    img = heatmap(image.copy(), ov.heat_points) if ov.heat_points is not None else image.copy()
    h, w = img.shape[:2]
    scale = max(0.4, min(w, 1.6 * h) / 1600)
    line = max(2, round(w / 500))
    polys = []
    for i, zone in enumerate(camera.zones):
        colour = zone_colour(i)
        pts = PixelPolygon(zone.polygon, w, h).as_int32()
        _blend_polygon(img, pts, colour, FILL_ALPHA)
        areas = [PixelPolygon(a, w, h).as_int32() for a in zone.product_areas]
        for a in areas:
            _blend_polygon(img, a, colour, AREA_ALPHA)
        polys.append((zone, colour, pts, areas))
    # Outlines and labels after all fills, so an overlapping zone never paints over them.
    for _zone, colour, pts, areas in polys:
        cv2.polylines(img, [pts], True, colour, line, cv2.LINE_AA)
        for a in areas:
            # White: a product area reads apart from its zone's coloured outline.
            cv2.polylines(img, [a], True, (255, 255, 255), max(1, line // 2), cv2.LINE_AA)
    for zone, colour, pts, areas in polys:
        lines = [zone.location]
        if ov.areas_m2 and zone.location in ov.areas_m2:
            lines.append(f"area {ov.areas_m2[zone.location]:.1f} m2")
        if ov.people_counts is not None:
            lines.append(f"people seen: {ov.people_counts.get(zone.location, 0)}")
        if ov.event_counts is not None:
            c = ov.event_counts.get(zone.location, Counter())
            lines.extend(f"{k.value}: {c.get(k, 0)}" for k in KIND_ORDER)
        if areas:
            lines.append(f"{len(areas)} product area" + ("s" if len(areas) > 1 else ""))
        x0, y0 = pts.reshape(-1, 2).min(axis=0)
        _label(img, lines, x0 + line + 2, y0 + line + 2, colour, scale)
    return _with_panel(img, [f"camera {camera.camera_id}: {len(camera.zones)} zone(s)", *ov.notes])


def _with_panel(img: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    h, w = img.shape[:2]
    scale = max(0.45, w / 1800)
    thick = max(1, round(scale * 1.6))
    lh = cv2.getTextSize("Ag", FONT, scale, thick)[0][1] + max(6, round(10 * scale))
    panel = np.full((lh * len(lines) + 10, w, 3), 32, np.uint8)
    for i, t in enumerate(lines):
        y = 5 + lh * (i + 1) - max(3, round(6 * scale))
        cv2.putText(panel, t, (8, y), FONT, scale, (235, 235, 235), thick, cv2.LINE_AA)
    return np.vstack([img, panel])
