"""bench/bench_edge.py runs end to end and prints every row (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.model

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_edge.py"


def test_quick_smoke_run_prints_all_contenders_and_checks(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--quick",
            "--frames",
            "12",
            "--repeats",
            "1",
            "--no-warmup",
            "--work",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for row in (
        "ours: exteros-edge replay",
        "competent: OpenVINO export",
        "naive: .pt",
        "ours CPU / competent CPU",
        "ours CPU / naive CPU",
        "ours peak RSS MB",
        "ours first frame s",
        "ours loads torch",
        "device env GB",
    ):
        assert row in proc.stdout, row
    result = json.loads(out.read_text())
    video = result["videos"]["720"]
    assert video["vid_stride"] == 2  # 15 fps at the default process_fps 8
    got = {name: c["frames"] for name, c in video["contenders"].items()}
    assert got == {"ours": 6, "competent": 6, "naive": 12}
    for c in video["contenders"].values():
        assert c["ok"] == 1 and c["cpu_s"] > 0 and c["rss_mb"] > 0
    assert result["checks"]["device env GB"]["720"]["verdict"] == "n/a"
