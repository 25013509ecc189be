"""The one-command demo, for real: model, sample video, Mosquitto, ingest, API, replay.

Slow (the real model over a 22 s video on a 2-core machine): one full run, plus
one interrupted with SIGINT that must leave nothing running behind it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.model, pytest.mark.timeout(1500)]

KINDS = {
    "impression": "impressions",
    "discovery": "discoveries",
    "engagement": "engagements",
    "interaction": "interactions",
}


def edge_command() -> list[str]:
    script = Path(sys.executable).parent / "exteros-edge"
    return [str(script)] if script.exists() else [sys.executable, "-m", "edge.cli"]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def processes_mentioning(text: str) -> list[str]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmd and int(pid) != os.getpid():
            out.append(f"{pid}: {cmd}")
    return out


@pytest.fixture(scope="module")
def demo_run():
    if shutil.which("mosquitto") is None:
        pytest.fail(
            "mosquitto is not installed (apt-get install mosquitto); the demo test needs it"
        )
    proc = subprocess.run(
        [*edge_command(), "demo"],
        stdin=subprocess.DEVNULL,  # not a terminal: prints and exits, no serving
        capture_output=True,
        text=True,
        timeout=1400,
    )
    return proc


def test_demo_exits_0(demo_run) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]


def test_demo_prints_the_four_endpoints_as_curl_would(demo_run) -> None:
    out = demo_run.stdout
    curls = re.findall(r'^\$ curl -H "Authorization: (\S+)" (http://\S+)$', out, re.M)
    assert len(curls) == 4, out
    assert len({key for key, _ in curls}) == 1
    lines = out.splitlines()
    for kind, plural in KINDS.items():
        idx = next(i for i, line in enumerate(lines) if f"/v1/traffic/{kind}-counts/" in line)
        body = json.loads(lines[idx + 1])
        assert body and all(set(item) == {"hr", plural} for item in body), (kind, body)
        # the fixed start time lands the visit at 09:00 local time of the sample store
        assert [item["hr"] for item in body] == [9]


def test_demo_counts_are_non_empty_and_match_the_ground_truth(demo_run) -> None:
    out = demo_run.stdout
    lines = out.splitlines()
    totals = {}
    for kind, plural in KINDS.items():
        idx = next(i for i, line in enumerate(lines) if f"/v1/traffic/{kind}-counts/" in line)
        totals[kind] = sum(item[plural] for item in json.loads(lines[idx + 1]))
    # stop12: one person stops 12 s at the table
    assert totals == {"impression": 1, "discovery": 1, "engagement": 1, "interaction": 0}, out
    assert "matches the video's ground truth" in out


def test_demo_says_where_the_docs_are_and_cleans_up(demo_run) -> None:
    out = demo_run.stdout
    m = re.search(r"API docs: http://127\.0\.0\.1:(\d+)/docs", out)
    assert m, out
    assert not listening(int(m.group(1))), "the demo left its API running"
    broker = re.search(r"Mosquitto listens on 127\.0\.0\.1:(\d+)", out)
    assert broker, out
    assert not listening(int(broker.group(1))), "the demo left Mosquitto running"


def test_demo_ctrl_c_stops_everything(tmp_path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.demo", "--workdir", str(workdir), "--no-keep-serving"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = []
    try:
        deadline = time.monotonic() + 600
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            # the broker, the ingest worker and the API are up; the replay is starting
            if "replaying" in line or time.monotonic() > deadline:
                break
        assert any("central API on" in x for x in seen), "".join(seen)
        time.sleep(2.0)  # let the edge replay start too
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    assert "interrupted" in out
    time.sleep(0.5)
    assert processes_mentioning(str(workdir)) == []
    api = re.search(r"central API on http://127\.0\.0\.1:(\d+)", out)
    broker = re.search(r"Mosquitto listens on 127\.0\.0\.1:(\d+)", out)
    assert api and broker, out
    assert not listening(int(api.group(1)))
    assert not listening(int(broker.group(1)))
