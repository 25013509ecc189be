"""Ground truth from the rendered records: visits per person per location, kinds, counts.

A visit is what docs/contract.md section 1 says: the feet point inside the zone
polygon, from the first frame inside to the last; a gap outside (or unseen) no
longer than the exit grace continues it. The kinds follow section 2 with the
edge config's default thresholds. The store (``spec.store``) is one more location:
the feet inside any zone, a wrist in any product area (edge/visits.py ``union_inside``;
with every zone on the defaults, the store's thresholds are the defaults too).
``margin_warnings`` lists every quantity that lands within the safety margin of a
threshold: a fair scenario has none.
"""

from __future__ import annotations

from typing import Any

import cv2

from edge.geometry import PixelPolygon, Point
from edge.scenarios import scene
from edge.scenarios.render import PersonFrame
from edge.scenarios.spec import ScenarioSpec

THRESHOLDS = {
    "confirm_s": 0.5,
    "discovery_s": 3.0,
    "engagement_s": 10.0,
    "exit_grace_s": 2.0,
    "interaction_s": 0.5,
}
KINDS = ("impression", "discovery", "engagement", "interaction")
MARGIN_S = 0.5  # no dwell within this of a threshold
WRIST_MARGIN_S = 0.25  # no wrist-in-area run within this of interaction_s
STAND_MARGIN_PX = 30.0  # a standing person's feet are at least this far from a zone edge


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    runs, start = [], None
    for i, f in enumerate(flags):
        if f and start is None:
            start = i
        elif not f and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(flags) - 1))
    return runs


def _points(rel: list[list[float]]) -> list[Point]:
    """A polygon as the config stores it (lists) -> points."""
    return [(x, y) for x, y in rel]


def compute_truth(
    spec: ScenarioSpec, records: list[dict[str, PersonFrame]], fps: float
) -> dict[str, Any]:
    n = len(records)
    polys = {
        z.location: PixelPolygon(_points(scene.to_rel(list(z.polygon))), scene.WIDTH, scene.HEIGHT)
        for z in spec.zones
    }
    areas = {
        z.location: [
            PixelPolygon(_points(scene.to_rel(list(a))), scene.WIDTH, scene.HEIGHT)
            for a in z.product_areas
        ]
        for z in spec.zones
    }
    # location -> the zone polygons its floor is made of, and its product areas
    floors = {loc: [poly] for loc, poly in polys.items()}
    if spec.store:
        floors[spec.store] = list(polys.values())
        areas[spec.store] = [a for zone_areas in list(areas.values()) for a in zone_areas]
    th = THRESHOLDS
    warnings: list[str] = []
    people: dict[str, Any] = {}
    counts = {loc: dict.fromkeys(KINDS, 0) for loc in floors}
    for actor in spec.actors:
        per_loc: dict[str, list[dict[str, Any]]] = {}
        for loc, floor in floors.items():
            inside = []
            wrist_in = []
            for rec in records:
                pf = rec.get(actor.pid)
                inside.append(pf is not None and any(p.contains(*pf.feet) for p in floor))
                wrist_in.append(
                    pf is not None
                    and any(a.contains(*w) for w in pf.wrists.values() for a in areas[loc])
                )
            # Somebody standing right on a zone edge is in or out by a few pixels of box
            # jitter: not fair. Standing feet keep STAND_MARGIN_PX from every edge. (The
            # store's edges are its zones' edges, checked there.)
            for i, rec in enumerate(records):
                pf = rec.get(actor.pid)
                if pf is None or pf.moving or loc == spec.store:
                    continue
                d = cv2.pointPolygonTest(floor[0].contour, pf.feet, True)
                if abs(d) < STAND_MARGIN_PX:
                    warnings.append(
                        f"{actor.pid}@{loc}: stands {d:+.0f}px from the zone edge at {i / fps:.2f}s"
                    )
                    break
            runs = _runs(inside)
            # Merge runs separated by no more than the exit grace.
            visits: list[list[int]] = []
            for a, b in runs:
                if visits and (a - visits[-1][1]) / fps <= th["exit_grace_s"]:
                    gap = (a - visits[-1][1]) / fps
                    if gap > th["exit_grace_s"] - MARGIN_S:
                        warnings.append(f"{actor.pid}@{loc}: gap {gap:.2f}s near the exit grace")
                    visits[-1][1] = b
                else:
                    if visits:
                        gap = (a - visits[-1][1]) / fps
                        if gap < th["exit_grace_s"] + 2 * MARGIN_S:
                            warnings.append(
                                f"{actor.pid}@{loc}: gap {gap:.2f}s near the exit grace"
                            )
                    visits.append([a, b])
            out = []
            for a, b in visits:
                dwell = (b - a) / fps
                kinds = []
                for kind, key in (
                    ("impression", "confirm_s"),
                    ("discovery", "discovery_s"),
                    ("engagement", "engagement_s"),
                ):
                    if dwell >= th[key]:
                        kinds.append(kind)
                    lo = th[key] - MARGIN_S
                    hi = th[key] + MARGIN_S + (0.5 if key == "confirm_s" else 0.0)
                    if lo <= dwell <= hi:
                        warnings.append(f"{actor.pid}@{loc}: dwell {dwell:.2f}s near {key}")
                longest = max(((d - c) / fps for c, d in _runs(wrist_in[a : b + 1])), default=-1.0)
                if longest >= th["interaction_s"]:
                    kinds.append("interaction")
                if longest >= 0 and abs(longest - th["interaction_s"]) < WRIST_MARGIN_S:
                    warnings.append(f"{actor.pid}@{loc}: wrist in area {longest:.2f}s")
                for k in kinds:
                    counts[loc][k] += 1
                out.append(
                    {
                        "enter_s": round(a / fps, 3),
                        "leave_s": round(b / fps, 3),
                        "dwell_s": round(dwell, 3),
                        "kinds": kinds,
                        "wrist_in_area_s": round(max(longest, 0.0), 3),
                    }
                )
            if out:
                per_loc[loc] = out
        people[actor.pid] = {
            "sprite": actor.sprite,
            "recolor": actor.recolor,
            "flip": actor.flip,
            "visits": per_loc,
        }
    return {
        "frames": n,
        "duration_s": round(n / fps, 3),
        "thresholds": dict(th),
        "people": people,
        "expected_counts": counts,
        "margin_warnings": warnings,
    }


def frame_tracks(records: list[dict[str, PersonFrame]]) -> dict[str, Any]:
    """Per person, per frame (from ``first``): feet, visible box, visible fraction, wrists."""
    tracks: dict[str, Any] = {}
    pids = sorted({pid for rec in records for pid in rec})
    for pid in pids:
        idx = [i for i, rec in enumerate(records) if pid in rec]
        first, last = idx[0], idx[-1]
        feet: list[list[float] | None] = []
        boxes: list[list[int] | None] = []
        vis: list[float] = []
        wrists: list[dict[str, list[float]] | None] = []
        for i in range(first, last + 1):
            pf = records[i].get(pid)
            if pf is None:
                feet.append(None)
                boxes.append(None)
                vis.append(0.0)
                wrists.append(None)
                continue
            feet.append([pf.feet[0], pf.feet[1]])
            boxes.append(list(pf.box) if pf.box else None)
            vis.append(pf.visible)
            wrists.append({str(k): [round(v[0], 1), round(v[1], 1)] for k, v in pf.wrists.items()})
        tracks[pid] = {"first": first, "feet": feet, "box": boxes, "visible": vis, "wrists": wrists}
    return tracks
