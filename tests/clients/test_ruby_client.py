"""The Ruby client's own suite (minitest, clients/ruby/test) as one test.

It starts its own ``exteros-central serve`` with this Python and checks the shared table,
429 handling and ``gem build``; its full output is shown when it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

from tests.clients.shared import CASES, ROOT

RUBY = ROOT / "clients" / "ruby"


def test_minitest_suite_passes():
    ruby = shutil.which("ruby")
    assert ruby, "ruby is not installed (scripts/ensure-services.sh installs it)"
    assert shutil.which("gem"), "gem is not installed (scripts/ensure-services.sh installs ruby)"
    proc = subprocess.run(
        [ruby, "test/run.rb"],
        cwd=RUBY,
        env={**os.environ, "EXTEROS_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"ruby test/run.rb exited {proc.returncode}:\n{output[-20000:]}"
    summary = re.search(
        r"^(\d+) runs, (\d+) assertions, (\d+) failures, (\d+) errors, (\d+) skips$",
        proc.stdout,
        re.M,
    )
    assert summary, output[-5000:]
    runs, _asserts, failures, errors, skips = map(int, summary.groups())
    assert (failures, errors, skips) == (0, 0, 0), summary.group(0)
    assert runs >= len(CASES) + 5, summary.group(0)
