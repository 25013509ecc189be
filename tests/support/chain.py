"""The whole chain for end-to-end tests: a central store (ingest worker + API, SQLite) on a
test broker, and an edge replay of a scenario video into it.

``central(db, ...)`` runs an ``exteros-central`` command; ``running_central(db, broker)``
starts the ingest worker and the API and yields the API's base URL; ``replay_into(...)``
replays a scenario through the real CLI to the broker; ``wait_for_totals(...)`` polls the
four count endpoints until they answer what is expected (or 30 s pass).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.broker import free_port, wait_port

KIND_FIELD = {"impression": "impressions", "discovery": "discoveries",
              "engagement": "engagements", "interaction": "interactions"}  # fmt: skip


def central(db: str, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "central", "--db", db, *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def api_totals(base: str, key: str, location: str, day: str) -> dict[str, int]:
    """The day's total of each kind at ``location``, through the four count endpoints."""
    totals = {}
    for kind, field in KIND_FIELD.items():
        r = httpx.get(f"{base}/v1/traffic/{kind}-counts/{location}/{day}",
                      headers={"Authorization": key}, timeout=10)  # fmt: skip
        assert r.status_code == 200, r.text
        totals[kind] = sum(item[field] for item in r.json())
    return totals


@contextmanager
def running_central(db: str, broker_port: int) -> Iterator[str]:
    """Ingest worker and API on ``db``; yields the API's base URL, stops both after."""
    port = free_port()
    procs = [
        subprocess.Popen([sys.executable, "-m", "central", "--db", db, "ingest",
                          "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker_port)]),
        subprocess.Popen([sys.executable, "-m", "central", "--db", db, "serve",
                          "--host", "127.0.0.1", "--port", str(port)]),
    ]  # fmt: skip
    try:
        wait_port(port, 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def replay_into(video: Path, config: Path, broker_port: int, work: Path) -> None:
    """``exteros-edge replay`` of ``video`` at 15:00Z, delivered to the broker."""
    env = {**os.environ, "EXTEROS_MQTT__PORT": str(broker_port),
           "EXTEROS_STATE_DIR": str(work / "state")}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "replay", str(video), "--config", str(config),
         "--start", "2020-01-01T15:00:00Z", "--events-out", str(work / "events.jsonl"),
         "--quiet", "--drain-timeout", "60"],
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


def wait_for_totals(
    base: str, key: str, locations: Iterable[str], day: str, expected: dict
) -> dict[str, dict[str, int]]:
    """Each location's totals once they equal ``expected`` (ingest is asynchronous), or
    whatever they are after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        got = {loc: api_totals(base, key, loc, day) for loc in locations}
        if got == expected or time.monotonic() > deadline:
            return got
        time.sleep(0.5)
