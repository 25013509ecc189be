"""Visit matching: one-to-one by time overlap, dwell tolerance, merges, splits, counts."""

from __future__ import annotations

import pytest
from evaluation.matching import count_ok, dwell_ok, match, score_zone
from evaluation.visits import Span, Thresholds

RULES = Thresholds()


def v(label: str, start: float, end: float) -> Span:
    return Span(start, end, label, RULES.kinds(end - start))


@pytest.mark.parametrize(
    "truth, pred, expect",
    [
        # perfect
        ([v("a", 0, 5)], [v("p", 0.1, 5)],
         dict(matched=1, dwell_within=1, merges=0, splits=0, missed=0, extra=0)),
        # dwell off by 2 s on a 5 s visit: outside max(1.5 s, 15 %)
        ([v("a", 0, 5)], [v("p", 0, 3)],
         dict(matched=1, dwell_within=0, merges=0, splits=0, missed=0, extra=0)),
        # the same 2 s error on a 20 s visit is within 15 %
        ([v("a", 0, 20)], [v("p", 0, 18)], dict(matched=1, dwell_within=1)),
        # two people one after the other, one predicted visit spanning both: a merge
        ([v("a", 0, 3), v("b", 3.5, 8)], [v("p", 0, 8)],
         dict(matched=1, dwell_within=0, merges=1, splits=0, missed=0, extra=0)),
        # two people at the same time, one predicted visit: a merge
        ([v("a", 0, 10), v("b", 0, 10)], [v("p", 0, 10)],
         dict(matched=1, dwell_within=1, merges=1, missed=0)),
        # ... and two predicted visits: no merge
        ([v("a", 0, 10), v("b", 0, 10)], [v("p", 0, 10), v("q", 0.2, 9.8)],
         dict(matched=2, dwell_within=2, merges=0, splits=0)),
        # one person, two predicted visits: a split
        ([v("a", 0, 10)], [v("p", 0, 4), v("q", 5, 10)],
         dict(matched=1, dwell_within=0, merges=0, splits=1, extra=0)),
        # a predicted visit where nobody was: extra; a person never seen: missed
        ([v("a", 0, 2)], [v("p", 6, 8)], dict(matched=0, missed=1, extra=1)),
        # a true visit too short to be confirmed is neither missed nor counted
        ([v("a", 0, 0.3)], [], dict(matched=0, missed=0, extra=0)),
        # ... and a predicted visit matching it is not extra
        ([v("a", 0, 0.3)], [v("p", 0, 0.6)], dict(matched=0, missed=0, extra=0)),
        # unconfirmed predicted visits never count
        ([v("a", 0, 3)], [v("p", 0, 3), v("q", 4, 4.2)], dict(matched=1, extra=0, splits=0)),
        # nothing at all
        ([], [], dict(matched=0, missed=0, extra=0, merges=0, splits=0)),
    ],
)  # fmt: skip
def test_score_zone(truth, pred, expect):
    s = score_zone(truth, pred)
    got = {k: getattr(s, k) for k in expect}
    assert got == expect


def test_matching_prefers_the_larger_overlap_and_is_one_to_one():
    truth = [v("a", 0, 4), v("b", 3, 10)]
    pred = [v("p", 3.2, 10), v("q", 0, 3.5)]
    assert sorted(match(truth, pred)) == [(0, 1), (1, 0)]


def test_touching_spans_match_within_the_padding():
    # processing every 3rd frame can start a visit a frame late: still the same visit
    assert match([v("a", 0.0, 1.0)], [v("p", 1.1, 2.0)]) == [(0, 0)]
    assert match([v("a", 0.0, 1.0)], [v("p", 1.6, 2.5)]) == []


def test_counts_and_targets():
    truth = [v("a", 0, 12), v("b", 0, 4), v("c", 13, 14)]
    s = score_zone(truth, [v("p", 0, 12), v("q", 0, 4), v("r", 13, 14)])
    assert s.true_counts == {"impression": 3, "discovery": 2, "engagement": 1}
    assert s.pred_counts == s.true_counts
    assert s.targets_met == {"dwell": True, "counts": True, "no_merges": True}
    s = score_zone(truth, [v("p", 0, 12), v("q", 0, 2.5)])
    assert s.pred_counts == {"impression": 2, "discovery": 1, "engagement": 1}
    assert s.targets_met == {"dwell": False, "counts": False, "no_merges": True}
    assert s.summary()["dwell_err_worst_s"] == 1.5
    assert (s.missed, s.merges) == (1, 0)


def test_a_miss_inside_another_visit_reads_as_a_merge():
    # time overlap alone cannot tell "c was never seen" from "c was folded into p"
    s = score_zone([v("a", 0, 12), v("c", 5, 6)], [v("p", 0, 12)])
    assert (s.merges, s.missed) == (1, 0)
    assert s.notes == ["merge: p covers c and a"]


@pytest.mark.parametrize(
    "true_dwell, pred_dwell, ok",
    [(5, 6.5, True), (5, 6.6, False), (20, 23, True), (20, 23.1, False), (0.6, 0, True)],
)
def test_dwell_tolerance(true_dwell, pred_dwell, ok):
    assert dwell_ok(true_dwell, pred_dwell) is ok


@pytest.mark.parametrize(
    "true_n, pred_n, ok",
    [(0, 0, True), (0, 1, False), (10, 10, True), (10, 11, False), (20, 21, True), (20, 19, True)],
)
def test_count_tolerance(true_n, pred_n, ok):
    assert count_ok(true_n, pred_n) is ok
