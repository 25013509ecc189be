"""The real CAVIAR clips through the real CLI: regression floors of what the code reaches today.

Floors, not targets: the issue's targets (recall >= 90 % at >= 40 px, dwell within
max(1.5 s, 15 %) for >= 90 % of visits, counts within 5 %, no merges) are printed by
``bench/accuracy.py``. Raise these floors when detection or tracking improves.
The clips live outside the repo (../shared/data/realclips or $EXTEROS_REALCLIPS); without
them these tests fail, they never skip.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from evaluation.clips import ClipsError, default_clips_dir, find_clips
from evaluation.evaluate import evaluate_clip, truth_of

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]

# (true counts imp/disc/eng, true visits), derived from the gt with bench/realclips/ zones
TRUTH = {
    "CAVIAR-EECP1-cor": ((6, 3, 2), 6),
    "CAVIAR-EECP1-front": ((6, 2, 0), 6),
}
# what the default config reaches today (2026-01 baseline); see bench/realclips/README.md
FLOORS = {
    # cor meets every issue target; front misses recall and the two edge-of-frame visits
    # (README "Counts on real cameras"). Measured with ByteTrack (2026-12-03): cor 6/6
    # matched and within tolerance, recall 0.94, IDF1 0.93; front 4/6 and 4/6, recall
    # 0.72 (bf16; 0.68-0.72 in FP32), IDF1 0.80.
    "CAVIAR-EECP1-cor": dict(matched=6, dwell_within=6, max_merges=0, max_count_err=(0, 0, 0),
                             recall40=0.92, idf1=0.90),
    "CAVIAR-EECP1-front": dict(matched=4, dwell_within=4, max_merges=0, max_count_err=(2, 0, 0),
                               recall40=0.64, idf1=0.72),
}  # fmt: skip
KINDS = ("impression", "discovery", "engagement")


@pytest.fixture(scope="module")
def clips():
    try:
        found = {c.name: c for c in find_clips(default_clips_dir())}
    except ClipsError as exc:
        pytest.fail(f"real clips unavailable: {exc}", pytrace=False)
    missing = sorted(set(TRUTH) - set(found))
    if missing:
        pytest.fail(f"real clips missing from {default_clips_dir()}: {', '.join(missing)}",
                    pytrace=False)  # fmt: skip
    return found


@pytest.fixture(scope="module")
def results(clips):
    return {name: evaluate_clip(clips[name]) for name in TRUTH}


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_true_visits_from_the_ground_truth(clips, name):
    truth = truth_of(clips[name])
    visits = [v for spans in truth.values() for v in spans if v.confirmed]
    counts = tuple(sum(k in v.kinds for v in visits) for k in KINDS)
    assert (counts, len(visits)) == TRUTH[name]


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_pipeline_meets_its_floors(results, name):
    r = results[name]
    floor = FLOORS[name]
    s = r["systems"]["exteros"]
    v = s["visits"]
    assert v["true_visits"] == TRUTH[name][1]
    assert v["matched"] >= floor["matched"], v["notes"]
    assert v["dwell_within"] >= floor["dwell_within"], v["notes"]
    assert v["merges"] <= floor["max_merges"], v["notes"]
    for kind, max_err in zip(KINDS, floor["max_count_err"], strict=True):
        err = abs(v["pred_counts"][kind] - v["true_counts"][kind])
        assert err <= max_err, f"{kind}: {v['pred_counts']} vs truth {v['true_counts']}"
    found, total = s["recall"][">=40"]
    assert total > 0 and found / total >= floor["recall40"], s["recall"]
    assert s["identity"]["idf1"] >= floor["idf1"], s["identity"]
    assert "time_warning" not in s, s["time_warning"]


def test_accuracy_command_fails_in_one_line_without_clips(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "accuracy.py"), "--clips", str(tmp_path / "none")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"accuracy: realclips folder not found: {tmp_path / 'none'} "
        "(set --clips or EXTEROS_REALCLIPS)"
    ]
