"""Identity metrics from maintained evaluators: IDF1/MOTA/IDSW (py-motmetrics), HOTA (TrackEval).

Both get the same per-frame data, prepared the MOTChallenge way: a predicted box that matches
an ignore box (conf=0, IoU >= 0.5) is dropped, then the ignore boxes are dropped. The distance
matrices are built here (``motmetrics.distances.iou_matrix`` calls ``np.asfarray``, which
NumPy 2 removed); the scoring itself is the libraries'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from evaluation.boxes import MATCH_IOU, Box, iou_matrix, match_boxes
from evaluation.gt import GtBox

Tracked = tuple[int, Box]  # (track id, box)


def prepare(
    gt: Mapping[int, Sequence[GtBox]], pred: Mapping[int, Sequence[Tracked]], frames: Sequence[int]
) -> list[tuple[list[int], list[Box], list[int], list[Box]]]:
    """Per frame: (gt ids, gt boxes, track ids, track boxes) with ignore regions removed."""
    out = []
    for f in frames:
        g = list(gt.get(f, ()))
        p = list(pred.get(f, ()))
        ignored = [b for b in g if not b.evaluate]
        if ignored and p:
            drop = {j for _, j in match_boxes([b.xyxy for b in ignored], [box for _, box in p])}
            p = [x for j, x in enumerate(p) if j not in drop]
        g = [b for b in g if b.evaluate]
        out.append(([b.person for b in g], [b.xyxy for b in g],
                    [tid for tid, _ in p], [box for _, box in p]))  # fmt: skip
    return out


def motmetrics_scores(frames: list[tuple[list[int], list[Box], list[int], list[Box]]]) -> dict:
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for gids, gboxes, tids, tboxes in frames:
        iou = iou_matrix(gboxes, tboxes)
        dist = np.where(iou >= MATCH_IOU, 1.0 - iou, np.nan)
        acc.update(gids, tids, dist)
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["idf1", "mota", "num_switches"], name="seq")
    return {"idf1": float(s["idf1"].iloc[0]), "mota": float(s["mota"].iloc[0]),
            "id_switches": int(s["num_switches"].iloc[0])}  # fmt: skip


def hota_scores(frames: list[tuple[list[int], list[Box], list[int], list[Box]]]) -> dict:
    from trackeval.metrics import HOTA

    gmap: dict[int, int] = {}
    tmap: dict[int, int] = {}
    data: dict = {"gt_ids": [], "tracker_ids": [], "similarity_scores": []}
    n_gt = n_tr = 0
    for gids, gboxes, tids, tboxes in frames:
        data["gt_ids"].append(np.array([gmap.setdefault(i, len(gmap)) for i in gids], dtype=int))
        data["tracker_ids"].append(np.array([tmap.setdefault(i, len(tmap)) for i in tids],
                                            dtype=int))  # fmt: skip
        data["similarity_scores"].append(iou_matrix(gboxes, tboxes))
        n_gt += len(gids)
        n_tr += len(tids)
    data.update(num_timesteps=len(frames), num_gt_ids=len(gmap), num_tracker_ids=len(tmap),
                num_gt_dets=n_gt, num_tracker_dets=n_tr)  # fmt: skip
    r = HOTA().eval_sequence(data)
    return {k.lower(): float(np.mean(r[k])) for k in ("HOTA", "DetA", "AssA")}


def identity_scores(
    gt: Mapping[int, Sequence[GtBox]], pred: Mapping[int, Sequence[Tracked]], frames: Sequence[int]
) -> dict:
    data = prepare(gt, pred, frames)
    return motmetrics_scores(data) | hota_scores(data)
