"""Detection recall by person height: IoU >= 0.5 against the evaluated (conf=1) gt boxes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from evaluation.boxes import Box, match_boxes
from evaluation.gt import GtBox

HEIGHT_BINS: tuple[tuple[float, float], ...] = ((20, 40), (40, 60), (60, 100), (100, math.inf))


def bin_name(lo: float, hi: float) -> str:
    return f"{lo:g}+" if math.isinf(hi) else f"{lo:g}-{hi:g}"


def recall_by_height(
    gt: Mapping[int, Sequence[GtBox]],
    pred: Mapping[int, Sequence[Box]],
    frames: Sequence[int],
    bins: Sequence[tuple[float, float]] = HEIGHT_BINS,
) -> dict[str, tuple[int, int]]:
    """(found, labelled) per height bin over ``frames`` (1-based), plus ``>=40`` and ``all``.

    Only the frames the system ran on are scored; ignore boxes are neither hits nor misses.
    """
    found = {bin_name(*b): 0 for b in bins}
    total = dict.fromkeys(found, 0)
    extra = {">=40": [0, 0], "all": [0, 0]}
    for f in frames:
        boxes = [b for b in gt.get(f, ()) if b.evaluate]
        hits = {i for i, _ in match_boxes([b.xyxy for b in boxes], list(pred.get(f, ())))}
        for i, b in enumerate(boxes):
            h = b.height
            for lo, hi in bins:
                if lo <= h < hi:
                    total[bin_name(lo, hi)] += 1
                    found[bin_name(lo, hi)] += i in hits
            for key, ok in ((">=40", h >= 40), ("all", True)):
                if ok:
                    extra[key][0] += i in hits
                    extra[key][1] += 1
    out = {k: (found[k], total[k]) for k in found}
    out.update({k: (v[0], v[1]) for k, v in extra.items()})
    return out
