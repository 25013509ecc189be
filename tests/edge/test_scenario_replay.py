"""The real model on every scenario video, through the real CLI: exact counts, dwell, ids.

Each scenario (edge/scenarios) carries its ground truth: per location the
expected number of each kind, and per person the visits with their dwell.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from edge.scenarios import SCENARIOS, generate, load_truth
from exteros.contract import parse_ts

pytestmark = pytest.mark.model

START = "2020-01-01T09:00:00Z"
DWELL_TOLERANCE_S = 0.5


@pytest.fixture(scope="session")
def scenario_dir(tmp_path_factory) -> Path:
    # generation is cached by spec hash; keep the cache across runs when allowed
    cache = os.environ.get("EXTEROS_SCENARIO_CACHE")
    return Path(cache) if cache else tmp_path_factory.mktemp("scenarios")


def replay(video: Path, config: Path, out: Path) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "replay", str(video), "--config", str(config),
         "--start", START, "--events-out", str(out), "--no-mqtt", "--quiet"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def counts_of(payloads: list[dict], locations) -> dict[str, dict[str, int]]:
    counts = {loc: dict.fromkeys(("impression", "discovery", "engagement", "interaction"), 0)
              for loc in locations}  # fmt: skip
    for p in payloads:
        if p["schema"] == "exteros.event/1":
            counts[p["location"]][p["kind"]] += 1
    return counts


def seconds(ts: str) -> float:
    return (parse_ts(ts) - parse_ts(START)).total_seconds()


def check_dwell(truth: dict, payloads: list[dict]) -> list[str]:
    """Every counted true visit has a reported visit starting near it with dwell within 0.5 s."""
    problems = []
    visits = [p for p in payloads if p["schema"] == "exteros.visit/1"]
    for pid, person in truth["people"].items():
        for loc, tvisits in person["visits"].items():
            for tv in tvisits:
                if "impression" not in tv["kinds"]:
                    continue
                cands = [v for v in visits if v["location"] == loc]
                if not cands:
                    problems.append(f"{pid}@{loc}: no visit reported")
                    continue
                best = min(cands, key=lambda v: abs(seconds(v["started_at"]) - tv["enter_s"]))
                d = best["dwell_s"] - tv["dwell_s"]
                if abs(d) > DWELL_TOLERANCE_S:
                    problems.append(f"{pid}@{loc}: dwell {best['dwell_s']} vs true {tv['dwell_s']}")
    return problems


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_counts_and_dwell_are_exact(name, scenario_dir, tmp_path):
    files = generate(name, scenario_dir)
    truth = load_truth(files.truth)
    payloads = replay(files.video, files.config, tmp_path / "events.jsonl")
    expected = truth["expected_counts"]
    assert counts_of(payloads, expected) == expected
    assert check_dwell(truth, payloads) == []
    # every event belongs to a summarised visit, and each kind at most once per visit
    visit_ids = {p["visit_id"] for p in payloads if p["schema"] == "exteros.visit/1"}
    events = [p for p in payloads if p["schema"] == "exteros.event/1"]
    assert {e["visit_id"] for e in events} <= visit_ids
    assert len({e["event_id"] for e in events}) == len(events)


@pytest.mark.parametrize(
    ("name", "variant"),
    [("stop4", "stall"), ("reach", "stall"), ("crossing", "fps10"), ("group", "fps25")],
)
def test_camera_stall_and_other_speeds_give_the_same_counts(name, variant, scenario_dir, tmp_path):
    files = generate(name, scenario_dir, variant=variant)
    truth = load_truth(files.truth)
    payloads = replay(files.video, files.config, tmp_path / "events.jsonl")
    assert counts_of(payloads, truth["expected_counts"]) == truth["expected_counts"]
    assert check_dwell(truth, payloads) == []


def test_two_replays_give_identical_event_ids(scenario_dir, tmp_path):
    files = generate("two_zones" if "two_zones" in SCENARIOS else sorted(SCENARIOS)[0],
                     scenario_dir)  # fmt: skip
    a = replay(files.video, files.config, tmp_path / "a.jsonl")
    b = replay(files.video, files.config, tmp_path / "b.jsonl")
    assert a == b
    assert any(p["schema"] == "exteros.event/1" for p in a)
    first = a[0]
    assert datetime.fromisoformat(first.get("visit_started_at", first.get("started_at"))[:-1])
