"""The JavaScript (node's test runner) and Ruby (minitest) clients' own suites, one test each.

Each suite starts its own ``exteros-central serve`` with this Python and checks the shared
table, 429 handling and packaging (``npm pack`` / ``gem build``); the suite's output is
shown when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.clients.shared import CASES, ROOT


def run_suite(cmd: list[str], cwd: Path) -> str:
    """Run a client suite to the end; its stdout, or an assertion with its output."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env={**os.environ, "EXTEROS_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{output[-20000:]}"
    return proc.stdout


def need(*tools: str) -> None:
    for tool in tools:
        assert shutil.which(tool), f"{tool} is not installed (scripts/ensure-services.sh does it)"


def test_node_suite_passes():
    need("node", "npm")
    js = ROOT / "clients" / "js"
    files = sorted(str(p.relative_to(js)) for p in (js / "test").glob("*.test.js"))
    out = run_suite(["node", "--test", *files], js)
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", out, re.M))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", counts
    assert counts.get("cancelled") == "0" and counts.get("todo") == "0", counts
    assert int(counts.get("pass", 0)) >= len(CASES) + 10, counts


def test_minitest_suite_passes():
    need("ruby", "gem")
    out = run_suite(["ruby", "test/run.rb"], ROOT / "clients" / "ruby")
    summary = re.search(
        r"^(\d+) runs, (\d+) assertions, (\d+) failures, (\d+) errors, (\d+) skips$", out, re.M
    )
    assert summary, out[-5000:]
    runs, _asserts, failures, errors, skips = map(int, summary.groups())
    assert (failures, errors, skips) == (0, 0, 0), summary.group(0)
    assert runs >= len(CASES) + 5, summary.group(0)
