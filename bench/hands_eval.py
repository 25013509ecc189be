"""Hand-touch precision/recall on real labelled images: the old wrist rule vs edge/hands.py.

    .venv/bin/python bench/hands_eval.py [--labels bench/hands/labels.json] [--clips DIR]

Runs the real pose model (models/yolo11n-pose.pt, 640 input) on the labelled photos
(shipped in installed packages; rows whose package is missing are skipped and listed)
and on every 3rd frame (8.3 processed frames/s) of the CAVIAR clips, then prints:

1. per-frame "touching" precision/recall for each rule over the labelled rows;
2. the false-positive check: product areas drawn along the shop fronts, railings and a
   bin of both clips, people walking past; how many (person, area) interactions fire
   with each rule and ``interaction_s`` (the visit layer's timing: touching continuously,
   gaps up to 0.35 s bridged, for ``interaction_s``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.boxes import iou_matrix  # noqa: E402  (bench/ is this script's folder)

from edge.hands import HandRules, inside_or_near, touching, visible_hands  # noqa: E402

STILL_H_PER_S = 0.3  # the "still" variant: feet slower than this many heights per second
STRIDE = 3  # 25 fps clips -> 8.3 processed frames/s, the default process_fps
HAND_GAP_S = 0.35  # as edge/visits.py
OLD_CONF = 0.5  # model.keypoint_conf


@dataclass(frozen=True)
class Rule:
    name: str
    touch: object  # (kpts, box, area) -> bool


def old_touch(kpts: np.ndarray, box, area: np.ndarray) -> bool:
    """Today's rule: a wrist with confidence >= 0.5 inside the area."""
    return any(kpts[i, 2] >= OLD_CONF and inside_or_near(area, kpts[i, 0], kpts[i, 1])
               for i in (9, 10))  # fmt: skip


def both_conf_touch(kpts: np.ndarray, box, area: np.ndarray) -> bool:
    """Confidence only: wrist and elbow both >= 0.5, the wrist inside the area."""
    return any(kpts[w, 2] >= OLD_CONF and kpts[e, 2] >= OLD_CONF
               and inside_or_near(area, kpts[w, 0], kpts[w, 1])
               for e, w in ((7, 9), (8, 10)))  # fmt: skip


def rule_of(rules: HandRules):
    return lambda kpts, box, area: touching(visible_hands(kpts, box, rules).hands, area)


RULES = [
    Rule("old: wrist conf>=0.5 in area", old_touch),
    Rule("wrist+elbow conf>=0.5", both_conf_touch),
    Rule("new, no face cue", rule_of(HandRules(face_conf=0.0))),
    Rule("new, no reach/tolerance", rule_of(HandRules(reach=0.0, tolerance=0.0))),
    Rule("NEW (edge/hands.py defaults)", rule_of(HandRules())),
]


def load_detector():
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from edge.config import ModelConfig
    from edge.runtime.ultralytics import UltralyticsDetector

    return UltralyticsDetector(ModelConfig(weights="yolo11n-pose.pt", imgsz=640))


def package_file(rel: str) -> Path | None:
    pkg, _, rest = rel.partition("/")
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / rest
    return path if path.is_file() else None


def read_gt(path: Path) -> dict[int, dict[int, tuple[float, float, float, float]]]:
    gt: dict[int, dict[int, tuple[float, float, float, float]]] = defaultdict(dict)
    for line in path.read_text().splitlines():
        f, i, x, y, w, h = (float(v) for v in line.split(",")[:6])
        gt[int(f)][int(i)] = (x, y, x + w, y + h)
    return gt


def clip_frames(
    detector, video: Path, frames: set[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Detections (boxes, keypoints) of the wanted 1-based frames of a video."""
    cap = cv2.VideoCapture(str(video))
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    k = 0
    while frames - out.keys():
        ok, img = cap.read()
        if not ok:
            break
        k += 1
        if k in frames:
            d = detector.detect(img)
            out[k] = (d.xyxy, d.keypoints)
    cap.release()
    return out


def person_of(boxes: np.ndarray, gt_box) -> int | None:
    scores = list(iou_matrix([tuple(b) for b in boxes], [tuple(gt_box)])[:, 0])
    if not scores or max(scores) < 0.3:
        return None
    return int(np.argmax(scores))


def gt_area(kind: str, b) -> np.ndarray:
    x1, y1, x2, y2 = b
    w, h = x2 - x1, y2 - y1
    if kind == "head":
        pts = [(x1, y1), (x2, y1), (x2, y1 + 0.25 * h), (x1, y1 + 0.25 * h)]
    elif kind == "front":
        ya, yb = y1 + 0.30 * h, y1 + 0.60 * h
        xa, xb = x1 + 0.35 * w, x2 - 0.35 * w
        pts = [(xa, ya), (xb, ya), (xb, yb), (xa, yb)]
    else:
        raise ValueError(f"unknown area kind {kind!r}")
    return np.asarray(pts, np.float32)


def interactions(times: list[float], touch: list[bool], interaction_s: float) -> int:
    """1 when the visit layer's timing would fire (see edge/visits.py _hands), else 0."""
    since = last = None
    for t, on in zip(times, touch, strict=True):
        if on:
            if since is None or (last is not None and t - last > HAND_GAP_S):
                since = t
            last = t
            if t - since >= interaction_s:
                return 1
        elif last is not None and t - last > HAND_GAP_S:
            since = last = None
    return 0


def walking(seq: list[tuple[float, np.ndarray, tuple]]) -> list[bool]:
    """Per frame: the feet point moved faster than STILL_H_PER_S person heights a second
    since the previous frame (the first frame counts as still), as the visit layer sees it.
    """
    out = [False] * len(seq)
    for j in range(1, len(seq)):
        (t0, _, a), (t1, _, b) = seq[j - 1], seq[j]
        fa, fb = ((a[0] + a[2]) / 2, a[3]), ((b[0] + b[2]) / 2, b[3])
        speed = float(np.hypot(fa[0] - fb[0], fa[1] - fb[1])) / max(t1 - t0, 1e-6)
        out[j] = speed > STILL_H_PER_S * max(b[3] - b[1], 1.0)
    return out


def prf(tp: int, fp: int, fn: int) -> str:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    return f"P {p:5.2f}  R {r:5.2f}  (TP {tp}, FP {fp}, FN {fn})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default=str(ROOT / "bench" / "hands" / "labels.json"))
    ap.add_argument("--clips", default=str(ROOT.parent / "shared" / "data" / "realclips"))
    args = ap.parse_args(argv)
    labels = json.loads(Path(args.labels).read_text())
    clips = Path(args.clips)
    if not clips.is_dir():
        print(f"error: clips folder {clips} not found (--clips)", file=sys.stderr)
        return 2
    detector = load_detector()

    # rows: (source group, touch label, kpts, box, area)
    rows: list[tuple[str, bool, np.ndarray, tuple, np.ndarray]] = []
    missing: list[str] = []
    for row in labels["photos"]:
        path = package_file(row["image"])
        if path is None:
            missing.append(row["image"])
            continue
        d = detector.detect(cv2.imread(str(path)))
        centres = (d.xyxy[:, 0] + d.xyxy[:, 2]) / 2
        i = int(np.argmin(np.abs(centres - row["person_x"])))
        rows.append(("photos", bool(row["touch"]), d.keypoints[i], tuple(d.xyxy[i]),
                     np.asarray(row["area"], np.float32)))  # fmt: skip

    gts = {c: read_gt(clips / f"{c}.gt.txt") for c in labels["fp_areas"]}
    wanted = {c: set(range(1, 384, STRIDE)) for c in labels["fp_areas"]}
    dets = {c: clip_frames(detector, clips / f"{c}.avi", wanted[c]) for c in wanted}
    unmatched = 0
    for row in labels["clips"]:
        c, gid = row["clip"], row["id"]
        lo, hi = row["frames"]
        for f in sorted(dets[c]):
            if not lo <= f <= hi or gid not in gts[c].get(f, {}):
                continue
            boxes, kps = dets[c][f]
            i = person_of(boxes, gts[c][f][gid])
            if i is None:
                unmatched += 1
                continue
            area = gt_area(row["area"], gts[c][f][gid])
            rows.append((row["area"], bool(row["touch"]), kps[i], tuple(boxes[i]), area))

    pos = sum(r[1] for r in rows)
    print(f"labelled rows: {len(rows)} ({pos} touching, {len(rows) - pos} not); clip frames "
          f"every {STRIDE}rd; {unmatched} clip rows without a detection skipped")  # fmt: skip
    if missing:
        print(f"skipped (package not installed): {', '.join(sorted(set(missing)))}")
    rej: dict[str, int] = defaultdict(int)
    for _, _, k, box, _ in rows:
        for r in visible_hands(k, box, HandRules()).rejected:
            rej[r.reason] += 1
    print(f"wrists rejected by the new rule over the labelled rows: {dict(rej)}")
    print(
        "\n1. per-frame touching: all rows | photos | clip 'head' rows (hand to face) | "
        "clip 'front' rows (a strip down the body's middle; all negatives: FP only)"
    )
    for rule in RULES:
        tot = [0, 0, 0]
        per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for group, truth, k, box, area in rows:
            got = bool(rule.touch(k, box, area))
            g = group
            idx = 0 if got and truth else 1 if got else 2 if truth else None
            if idx is not None:
                tot[idx] += 1
                per[g][idx] += 1
        print(f"  {rule.name:30s} {prf(*tot)} | {prf(*per['photos'])} | {prf(*per['head'])}"
              f" | FP {per['front'][1]}")  # fmt: skip

    print("\n2. false-positive check: walkers past product areas (every (person, area) pair)")
    variants = [(r, False) for r in RULES] + [(RULES[-1], True)]
    for interaction_s in (0.5, 0.2):
        for rule, still in variants:
            fired, frames_on, pairs = [], 0, 0
            for c, areas in labels["fp_areas"].items():
                ids = sorted({i for f in gts[c].values() for i in f})
                for gid in ids:
                    seq = []
                    for f in sorted(dets[c]):
                        if gid not in gts[c].get(f, {}):
                            continue
                        boxes, kps = dets[c][f]
                        i = person_of(boxes, gts[c][f][gid])
                        if i is not None:
                            seq.append((f / 25.0, kps[i], tuple(boxes[i])))
                    moving = walking(seq)
                    for name, poly in areas.items():
                        area = np.asarray(poly, np.float32)
                        on = [bool(rule.touch(k, b, area)) and not (still and mv)
                              for (_, k, b), mv in zip(seq, moving, strict=True)]  # fmt: skip
                        frames_on += sum(on)
                        pairs += 1
                        if interactions([t for t, _, _ in seq], on, interaction_s):
                            fired.append(f"{c[-5:].strip('-')} id{gid} {name}")
            name = rule.name + (" + feet still" if still else "")
            print(f"  interaction_s {interaction_s:4.2f}  {name:44s} fired {len(fired)}"
                  f" of {pairs} pairs, touching frames {frames_on}"
                  + (f": {'; '.join(fired)}" if fired else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
