"""Annotated replay video: boxes, track ids, zones, product areas, dwell timers, event flashes.

Hands show what the interaction rule saw (edge/hands.py): a visible hand is a magenta
forearm line from the elbow to the hand point with a ring of its tolerance; a wrist the
model placed but did not see is a small grey cross ("?" low confidence, "H" guessed
behind the body). A product area turns yellow while a visible hand touches it.

Used only by ``replay --annotate`` on the device itself; no image leaves it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.hands import HIDDEN, HandView, rules_from_config, touching, visible_hands
from edge.pipeline import CameraPipeline, FrameResult
from exteros.contract import Event

ZONE_COLOURS = [(0, 200, 255), (255, 160, 0), (120, 255, 120), (255, 80, 200), (80, 80, 255)]
FLASH_S = 0.8
HAND = (255, 0, 255)
GUESS = (160, 160, 160)
TOUCH = (0, 255, 255)


def draw_hands(img: np.ndarray, view: HandView) -> None:
    """Visible hands (forearm line, hand point, tolerance ring) and rejected guesses."""
    for h in view.hands:
        c = (int(round(h.x)), int(round(h.y)))
        if h.elbow is not None:
            e = (int(round(h.elbow[0])), int(round(h.elbow[1])))
            cv2.line(img, e, c, HAND, 2)
        cv2.circle(img, c, 3, HAND, -1)
        cv2.circle(img, c, max(3, int(round(h.tol))), HAND, 1)
    for r in view.rejected:
        x, y = int(round(r.x)), int(round(r.y))
        cv2.drawMarker(img, (x, y), GUESS, cv2.MARKER_TILTED_CROSS, 8, 1)
        cv2.putText(img, "H" if r.reason == HIDDEN else "?", (x + 4, y - 4),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, GUESS, 1)  # fmt: skip


class Annotator:
    def __init__(self, path: str | Path, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter.fourcc(*"mp4v")
        self.writer = cv2.VideoWriter(str(self.path), fourcc, fps, size)
        if not self.writer.isOpened():
            raise OSError(f"cannot write annotated video to {self.path}")
        self.flashes: list[tuple[float, str]] = []  # (time fired, text)

    def write(self, pipe: CameraPipeline, res: FrameResult) -> None:
        self.writer.write(self.render(pipe, res))

    def render(self, pipe: CameraPipeline, res: FrameResult) -> np.ndarray:
        """The annotated picture of one processed frame."""
        img = res.frame.image.copy()
        t = res.frame.t
        rules = rules_from_config(pipe.cfg.model)
        views = [visible_hands(tr.keypoints, tr.xyxy, rules) for tr in res.tracks]
        seen = [h for v in views for h in v.hands]
        overlay = img.copy()
        for i, zr in enumerate(pipe.zones):
            colour = ZONE_COLOURS[i % len(ZONE_COLOURS)]
            pts = zr.polygon.as_int32()
            cv2.fillPoly(overlay, [pts], colour)
            cv2.polylines(img, [pts], True, colour, 2)
            x, y = pts[:, 0, :].min(axis=0)
            cv2.putText(img, zr.config.location, (int(x) + 6, int(y) + 22),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.6, colour, 2)  # fmt: skip
            for area in zr.product_areas:
                touched = touching(seen, area.contour)
                if touched:
                    cv2.fillPoly(overlay, [area.as_int32()], TOUCH)
                edge = TOUCH if touched else (255, 255, 255)
                cv2.polylines(img, [area.as_int32()], True, edge, 3 if touched else 2)
        cv2.addWeighted(overlay, 0.18, img, 0.82, 0, img)
        dwell_by_track: dict[int, float] = {}
        for zr in pipe.zones:
            for v in zr.visits.open:
                dwell_by_track[v.track_id] = max(dwell_by_track.get(v.track_id, 0.0), v.dwell(t))
        for tr, view in zip(res.tracks, views, strict=True):
            x1, y1, x2, y2 = (int(v) for v in tr.xyxy)
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0), 2)
            label = f"#{tr.track_id}"
            if tr.track_id in dwell_by_track:
                label += f" {dwell_by_track[tr.track_id]:.1f}s"
            cv2.putText(img, label, (x1, max(15, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6,
                        (0, 255, 0), 2)  # fmt: skip
            fx, fy = tr.feet
            cv2.circle(img, (int(fx), int(fy)), 5, (0, 0, 255), -1)
            draw_hands(img, view)
        for msg in res.messages:
            if isinstance(msg, Event):
                self.flashes.append((t, f"{msg.kind.value.upper()} {msg.location}"))
        self.flashes = [f for f in self.flashes if t - f[0] < FLASH_S]
        if self.flashes:
            cv2.rectangle(img, (0, 0), (img.shape[1] - 1, img.shape[0] - 1), (0, 255, 255), 12)
            for i, (_, text) in enumerate(self.flashes):
                cv2.putText(img, text, (20, 40 + 30 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.9,
                            (0, 255, 255), 2)  # fmt: skip
        cv2.putText(img, f"t={t:7.2f}s", (img.shape[1] - 170, 30), cv2.FONT_HERSHEY_SIMPLEX,
                    0.7, (255, 255, 255), 2)  # fmt: skip
        return np.ascontiguousarray(img)

    def close(self) -> None:
        self.writer.release()
