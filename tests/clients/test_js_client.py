"""The JavaScript client's own suite (node's test runner, clients/js/test) as one test.

It starts its own ``exteros-central serve`` with this Python and checks the shared table,
429 handling and ``npm pack``; its full output is shown when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from tests.clients.shared import CASES, ROOT

JS = ROOT / "clients" / "js"


def test_node_suite_passes():
    node = shutil.which("node")
    assert node, "node is not installed (scripts/ensure-services.sh installs it)"
    assert shutil.which("npm"), "npm is not installed (scripts/ensure-services.sh installs it)"
    files = sorted(str(p.relative_to(JS)) for p in (JS / "test").glob("*.test.js"))
    proc = subprocess.run(
        [node, "--test", *files],
        cwd=JS,
        env={**os.environ, "EXTEROS_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"node --test exited {proc.returncode}:\n{output[-20000:]}"
    counts = dict(re.findall(r"^# (pass|fail|skipped|todo|cancelled) (\d+)$", proc.stdout, re.M))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0", counts
    assert counts.get("cancelled") == "0" and counts.get("todo") == "0", counts
    assert int(counts.get("pass", 0)) >= len(CASES) + 10, counts
