"""Score predicted visits against true visits of one zone by time overlap.

Matching is one-to-one (Hungarian, maximum total overlap). True visits too short to be
confirmed (dwell < confirm_s) are "don't care": a predicted visit may match one without being
a false visit, but missing one is not an error and it is not in the true counts.

After matching:
- a *merge* is a predicted visit that is matched to one true visit and also covers at least
  half of another countable true visit that nothing matched (two people, one visit);
- a *split* is a true visit that, besides its match, contains at least half of an unmatched
  predicted visit (one person, two visits);
- the other unmatched true visits are *missed*, the other unmatched predicted visits *extra*.
Time overlap alone cannot tell a merge from a miss while someone else is in the zone; the
report says which rule it applied.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from evaluation.visits import KINDS, Span

PAD_S = 0.25  # spans are widened by this much on each side when matching (processing rate)
COVER = 0.5  # the share of a visit another visit must cover for a merge / split
DWELL_ABS_S = 1.5
DWELL_REL = 0.15
COUNT_REL = 0.05
DWELL_OK_SHARE = 0.90


def overlap(a: Span, b: Span, pad: float = 0.0) -> float:
    return max(0.0, min(a.end, b.end) - max(a.start, b.start) + 2 * pad)


def dwell_ok(true_dwell: float, pred_dwell: float) -> bool:
    return abs(pred_dwell - true_dwell) <= max(DWELL_ABS_S, DWELL_REL * true_dwell) + 1e-9


def count_ok(true_n: int, pred_n: int) -> bool:
    return abs(pred_n - true_n) <= COUNT_REL * true_n + 1e-9


def counts(spans: Sequence[Span]) -> dict[str, int]:
    return {k: sum(k in s.kinds for s in spans) for k in KINDS}


@dataclass
class ZoneScore:
    """The visit-level result of one zone (or a sum of zones)."""

    true_counts: dict[str, int]
    pred_counts: dict[str, int]
    countable: int  # true visits that are confirmed (dwell >= confirm_s)
    matched: int  # ... of which a predicted visit matched
    dwell_within: int  # ... of which the dwell is within max(1.5 s, 15 %)
    dwell_errors: list[float] = field(default_factory=list)  # |pred - true| of matched ones
    merges: int = 0
    splits: int = 0
    missed: int = 0
    extra: int = 0
    pairs: list[tuple[Span, Span]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def dwell_share(self) -> float:
        return self.dwell_within / self.countable if self.countable else 1.0

    @property
    def counts_ok(self) -> bool:
        return all(count_ok(self.true_counts[k], self.pred_counts[k]) for k in KINDS)

    @property
    def targets_met(self) -> dict[str, bool]:
        return {
            "dwell": self.dwell_share >= DWELL_OK_SHARE,
            "counts": self.counts_ok,
            "no_merges": self.merges == 0,
        }

    def __add__(self, other: ZoneScore) -> ZoneScore:
        return ZoneScore(
            {k: self.true_counts[k] + other.true_counts[k] for k in KINDS},
            {k: self.pred_counts[k] + other.pred_counts[k] for k in KINDS},
            self.countable + other.countable,
            self.matched + other.matched,
            self.dwell_within + other.dwell_within,
            self.dwell_errors + other.dwell_errors,
            self.merges + other.merges,
            self.splits + other.splits,
            self.missed + other.missed,
            self.extra + other.extra,
            self.pairs + other.pairs,
            self.notes + other.notes,
        )

    @classmethod
    def empty(cls) -> ZoneScore:
        return cls(dict.fromkeys(KINDS, 0), dict.fromkeys(KINDS, 0), 0, 0, 0)

    def summary(self) -> dict:
        errs = self.dwell_errors
        return {
            "true_counts": self.true_counts,
            "pred_counts": self.pred_counts,
            "true_visits": self.countable,
            "matched": self.matched,
            "dwell_within": self.dwell_within,
            "dwell_share": round(self.dwell_share, 3),
            "dwell_err_median_s": round(statistics.median(errs), 2) if errs else None,
            "dwell_err_worst_s": round(max(errs), 2) if errs else None,
            "merges": self.merges,
            "splits": self.splits,
            "missed": self.missed,
            "extra": self.extra,
            "targets_met": self.targets_met,
            "notes": self.notes,
        }


def match(truth: Sequence[Span], pred: Sequence[Span]) -> list[tuple[int, int]]:
    """One-to-one pairs (true index, predicted index) of maximum total overlap (> 0)."""
    if not truth or not pred:
        return []
    w = np.zeros((len(truth), len(pred)))
    for i, t in enumerate(truth):
        for j, p in enumerate(pred):
            # a countable true visit is preferred over a don't-care one of the same overlap
            w[i, j] = overlap(t, p, PAD_S) * (1.0 if t.confirmed else 0.5)
    rows, cols = linear_sum_assignment(w, maximize=True)
    return [(int(i), int(j)) for i, j in zip(rows, cols, strict=True) if w[i, j] > 0]


def score_zone(truth: Sequence[Span], pred: Sequence[Span]) -> ZoneScore:
    """Counts, matches, dwell errors, merges and splits of one zone."""
    pred = [p for p in pred if p.confirmed]  # unconfirmed visits are never reported
    pairs = match(truth, pred)
    t_of = {j: i for i, j in pairs}
    p_of = {i: j for i, j in pairs}
    score = ZoneScore(counts(truth), counts(pred), sum(t.confirmed for t in truth), 0, 0)
    for i, j in pairs:
        t, p = truth[i], pred[j]
        if not t.confirmed:
            continue
        score.matched += 1
        err = abs(p.dwell - t.dwell)
        score.dwell_errors.append(err)
        score.dwell_within += dwell_ok(t.dwell, p.dwell)
        score.pairs.append((t, p))
    merged_preds: set[int] = set()
    for i, t in enumerate(truth):
        if i in p_of or not t.confirmed:
            continue
        cover = [(overlap(t, pred[j]) / max(t.dwell, 1e-6), j) for j in t_of]
        best = max(cover, default=(0.0, -1))
        if best[0] >= COVER:
            merged_preds.add(best[1])
            score.notes.append(f"merge: {pred[best[1]].label} covers {t.label} "
                               f"and {truth[t_of[best[1]]].label}")  # fmt: skip
        else:
            score.missed += 1
            score.notes.append(f"missed: {t.label} {t.start:.1f}-{t.end:.1f} s")
    score.merges = len(merged_preds)
    split_truths: set[int] = set()
    for j, p in enumerate(pred):
        if j in t_of:
            continue
        cover = [(overlap(p, truth[i]) / max(p.dwell, 1e-6), i) for i in p_of]
        best = max(cover, default=(0.0, -1))
        if best[0] >= COVER:
            split_truths.add(best[1])
            score.notes.append(f"split: {truth[best[1]].label} also in {p.label}")
        else:
            score.extra += 1
            score.notes.append(f"extra: {p.label} {p.start:.1f}-{p.end:.1f} s")
    score.splits = len(split_truths)
    return score
