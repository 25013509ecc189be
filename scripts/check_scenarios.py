#!/usr/bin/env python3
"""Run the real detector+tracker over scenario videos and compare with their ground truth.

For each scenario, every ``--step``-th frame goes through
``YOLO(weights).track(frame, persist=True, classes=[0], imgsz=640)``. Printed per
scenario:

- recall: detections matched (IoU >= 0.5 with the visible-body box) over people
  whose feet point is in the frame and who are at least 90 % visible;
- false positives: detections that match nobody;
- ids: distinct track ids over the matched detections vs the true number of people,
  and id switches (a person's matched id changing from one sampled frame to the next);
- wrist frames: sampled frames with a confident wrist (conf > 0.5) of a person inside a
  product area, per person, and the longest such run in seconds.

    YOLO_OFFLINE=1 .venv/bin/python scripts/check_scenarios.py [NAMES...] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from edge.geometry import PixelPolygon  # noqa: E402
from edge.scenarios import SCENARIOS, generate, load_truth  # noqa: E402


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def truth_at(truth: dict, i: int) -> dict[str, tuple[list, float, list]]:
    """pid -> (box, visible, feet) for people present in frame i."""
    out = {}
    for pid, tr in truth["tracks"].items():
        k = i - tr["first"]
        if 0 <= k < len(tr["box"]) and tr["box"][k] is not None:
            out[pid] = (tr["box"][k], tr["visible"][k], tr["feet"][k])
    return out


def check(name: str, out_dir: Path, weights: str, step: int, variant: str | None) -> dict:
    from ultralytics import YOLO

    files = generate(name, out_dir, variant=variant)
    truth = load_truth(files.truth)
    w, h, fps = truth["width"], truth["height"], truth["fps"]
    areas = [
        PixelPolygon(a, w, h) for loc in truth["locations"].values() for a in loc["product_areas"]
    ]
    model = YOLO(weights)
    cap = cv2.VideoCapture(str(files.video))
    expected = hits = fps_count = 0
    ids_per_person: dict[str, list[int]] = {}
    switches = 0
    wrist_frames: dict[str, list[int]] = {}
    all_ids: set[int] = set()
    fp_list: list[tuple[int, list[int], float]] = []
    missed: list[tuple[int, str, list]] = []
    t0 = time.monotonic()
    i = -1
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        i += 1
        if i % step:
            continue
        present = truth_at(truth, i)
        if not present and i % (step * 5):
            continue  # empty stretches: sample sparsely (still checks false positives)
        r = model.track(frame, persist=True, classes=[0], imgsz=640, verbose=False)[0]
        boxes = r.boxes.xyxy.cpu().numpy() if r.boxes is not None else np.zeros((0, 4))
        tids = (
            r.boxes.id.int().cpu().tolist()
            if r.boxes is not None and r.boxes.id is not None
            else [-1] * len(boxes)
        )
        kps = r.keypoints.data.cpu().numpy() if r.keypoints is not None else None
        # Greedy IoU matching, best pairs first.
        pairs = sorted(
            ((iou(b, present[p][0]), d, p) for d, b in enumerate(boxes) for p in present),
            reverse=True,
        )
        used_d, match = set(), {}
        for v, d, p in pairs:
            if v < 0.5 or d in used_d or p in match:
                continue
            used_d.add(d)
            match[p] = d
        confs = r.boxes.conf.cpu().tolist() if r.boxes is not None else []
        for d in range(len(boxes)):
            if d not in used_d:
                fps_count += 1
                fp_list.append((i, [int(v) for v in boxes[d]], round(confs[d], 2)))
        for p, (_box, vis, feet) in present.items():
            in_frame = 0 <= feet[0] < w and 0 <= feet[1] < h
            if in_frame and vis >= 0.9:
                expected += 1
                hits += p in match
                if p not in match:
                    missed.append((i, p, _box))
        for p, d in match.items():
            tid = tids[d]
            if tid >= 0:
                all_ids.add(tid)
                seq = ids_per_person.setdefault(p, [])
                if seq and seq[-1] != tid:
                    switches += 1
                seq.append(tid)
            if kps is not None and areas:
                for widx in (9, 10):
                    x, y, c = kps[d][widx]
                    if c > 0.5 and any(a.contains(float(x), float(y)) for a in areas):
                        wrist_frames.setdefault(p, []).append(i)
                        break
    wrist_summary = {}
    for p, frames in wrist_frames.items():
        longest, run = 0, 1
        for a, b in zip(frames, frames[1:], strict=False):
            run = run + 1 if b - a == step else 1
            longest = max(longest, run)
        longest = max(longest, 1)
        wrist_summary[p] = (len(frames), round((longest - 1) * step / fps, 2))
    return {
        "name": name if not variant else f"{name}-{variant}",
        "recall": hits / expected if expected else float("nan"),
        "expected": expected,
        "fp": fps_count,
        "ids": len(all_ids),
        "people": len(truth["tracks"]),
        "switches": switches,
        "per_person_ids": {p: sorted(set(s)) for p, s in ids_per_person.items()},
        "wrist": wrist_summary,
        "truth_interactions": {
            p: [v["wrist_in_area_s"] for vs in d["visits"].values() for v in vs]
            for p, d in truth["people"].items()
        },
        "seconds": round(time.monotonic() - t0, 1),
        "fp_list": fp_list,
        "missed": missed,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="scenarios (default: all)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/exteros-scenarios"))
    ap.add_argument("--weights", default="models/yolo11n-pose.pt")
    ap.add_argument("--step", type=int, default=2, help="run the model on every n-th frame")
    ap.add_argument("--variant", default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true", help="list unmatched detections")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    names = args.names or list(SCENARIOS)
    print(f"{'scenario':14s} {'recall':>7s} {'n':>5s} {'fp':>4s} {'ids/people':>10s} "
          f"{'switch':>6s}  wrist-in-area (frames, longest s) | truth wrist s")  # fmt: skip
    for n in names:
        r = check(n, args.out, args.weights, args.step, args.variant)
        print(
            f"{r['name']:14s} {r['recall']:7.3f} {r['expected']:5d} {r['fp']:4d} "
            f"{r['ids']:>4d}/{r['people']:<5d} {r['switches']:6d}  {r['wrist']} | "
            f"{r['truth_interactions']}  ids {r['per_person_ids']}  ({r['seconds']}s)",
            flush=True,
        )
        if args.verbose and r["missed"]:
            print("   missed (frame, person, true box):", r["missed"][:8])
        if args.verbose and r["fp_list"]:
            print("   unmatched detections (frame, box, conf):", r["fp_list"][:8])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
