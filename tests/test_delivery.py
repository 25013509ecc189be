"""No event lost end to end, none counted twice: edge outbox -> Mosquitto -> ingest -> store.

Every test runs the real pieces: a Mosquitto on a free port (stopped, or killed
with SIGKILL and no chance to save), ``exteros-central ingest`` worker processes
with shared subscriptions on a PostgreSQL store (one schema per test), and the
edge's MqttOutput in its own process writing the same payloads to an events-out
JSONL file, like ``exteros-edge replay --events-out``. The check is always the
same: every id in the events-out file is in the store exactly once, and the
edge's exit status says "all confirmed".

Mosquitto 2.0 drops shared-subscription messages that arrive while no worker of
the group is connected, and a SIGKILLed broker forgets what it acknowledged and
had not saved: the edge gets them stored only because it keeps every row until
the store's receipt and re-sends after the confirm timeout (1.5 s here).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from edge.config import EdgeConfig
from tests.central.conftest import PgSchema
from tests.support.broker import Mosquitto
from tests.support.central import Central

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "dev-a"
CONFIRM_S = "1.5"
BROKER_CONF = "max_queued_messages 0\n"

EMITTER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import UTC, datetime, timedelta
    from edge.config import EdgeConfig
    from edge.outputs.jsonl import JsonlOutput
    from edge.outputs.mqtt import MqttOutput
    from exteros.contract import Event
    cfg = EdgeConfig(**json.loads(sys.argv[1]))
    n, rate, drain = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    start = int(sys.argv[6])
    outs = [JsonlOutput(sys.argv[5]), MqttOutput(cfg, version="t")]
    t0 = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)
    began = time.monotonic()
    for i in range(start, start + n):
        t = t0 + timedelta(seconds=i)
        ev = Event(event_id=f"dev-a/cam-1/{i}/impression", kind="impression", location="loc-1",
                   device_id="dev-a", camera_id="cam-1", visit_id=f"dev-a/cam-1/{i}",
                   visit_started_at=t, occurred_at=t, dwell_s=0.5, confidence=0.9)
        for o in outs:
            o.emit(ev)
        if i - start == 20:
            assert outs[1].sync(10)
            print("emitting", flush=True)
        lag = began + (i - start + 1) / rate - time.monotonic()
        if lag > 0:
            time.sleep(lag)
    outs[1].sync(10)
    print("emitted", flush=True)
    ok = all([o.close(drain) for o in outs])
    print("confirmed" if ok else "kept", outs[1].kept, flush=True)
    sys.exit(0 if ok else 3)
    """
)


def edge_cfg(tmp_path: Path, port: int) -> EdgeConfig:
    return EdgeConfig(
        device_id=DEVICE,
        state_dir=tmp_path / "state",
        mqtt={"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5},
        cameras=[{"camera_id": "cam-1", "source": "video.mp4",
                  "zones": [{"location": "loc-1", "polygon": [[0, 0], [1, 0], [1, 1]]}]}],
    )  # fmt: skip


class Edge:
    """The emitter process: N events at a steady rate, then close with a drain timeout."""

    def __init__(self, tmp_path: Path, cfg: EdgeConfig, n: int, rate: float, drain: float = 30,
                 start: int = 0, name: str = "events") -> None:  # fmt: skip
        self.events_out = tmp_path / f"{name}.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", EMITTER, cfg.model_dump_json(), str(n), str(rate), str(drain),
             str(self.events_out), str(start)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT),
                 "EXTEROS_OUTBOX__CONFIRM_TIMEOUT_S": CONFIRM_S},
        )  # fmt: skip
        assert self.proc.stdout.readline().strip() == "emitting"

    def wait_line(self, want: str) -> str:
        line = self.proc.stdout.readline().strip()
        assert line.startswith(want), line
        return line

    def finish(self, timeout: float = 60) -> int:
        self.proc.wait(timeout)
        return self.proc.returncode


def written_ids(path: Path) -> set[str]:
    return {json.loads(line)["event_id"] for line in path.read_text().splitlines() if line}


@pytest.fixture
def pg():
    schema = PgSchema()
    yield schema.url
    schema.drop()


@pytest.fixture
def mosq(tmp_path):
    b = Mosquitto(tmp_path / "broker", extra_conf=BROKER_CONF)
    b.start()
    yield b
    b.stop(kill=True)


@pytest.fixture
def central(pg, mosq, tmp_path):
    c = Central(pg, mosq.port, tmp_path / "central")
    yield c
    c.close()


def assert_exactly_once(central: Central, ids: set[str]) -> None:
    assert len(ids) > 0
    assert central.wait_events(ids, 30) == set(), "events in --events-out missing from the store"
    counts = central.event_counts()
    assert {i for i in ids if counts[i] != 1} == set()
    assert set(counts) == ids  # and nothing else


def start_workers(central: Central, n: int) -> list:
    workers = [central.start_proc_worker(f"ingest-{k}") for k in range(n)]
    for w in workers:
        w.wait_connected()
    return workers


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("kill", [False, True], ids=["stopped", "sigkilled"])
def test_broker_goes_away_mid_stream(tmp_path, mosq, central, workers, kill):
    ws = start_workers(central, workers)
    edge = Edge(tmp_path, edge_cfg(tmp_path, mosq.port), n=300, rate=300)
    time.sleep(0.3)
    mosq.stop(kill=kill)  # SIGKILL: no save, what it acked and had queued is gone
    time.sleep(0.5)
    mosq.start()
    for w in ws:
        w.wait_connected(2)
    assert edge.finish() == 0, "the edge did not get every event confirmed"
    assert_exactly_once(central, written_ids(edge.events_out))


def test_ingest_sigkilled_mid_stream_then_restarted(tmp_path, mosq, central):
    (w,) = start_workers(central, 1)
    edge = Edge(tmp_path, edge_cfg(tmp_path, mosq.port), n=300, rate=300)
    time.sleep(0.3)
    w.stop(signal.SIGKILL)
    time.sleep(0.5)
    (w2,) = start_workers(central, 1)  # same client id: takes over the session
    assert edge.finish() == 0
    assert_exactly_once(central, written_ids(edge.events_out))


def test_one_of_two_workers_sigkilled_and_restarted(tmp_path, mosq, central):
    """Mosquitto keeps dealing a dead member of the shared group its share (queued in
    its session) until it comes back, as systemd brings it back; the edge re-sends."""
    ws = start_workers(central, 2)
    edge = Edge(tmp_path, edge_cfg(tmp_path, mosq.port), n=300, rate=300)
    time.sleep(0.3)
    ws[0].stop(signal.SIGKILL)
    time.sleep(1.0)
    central.start_proc_worker("ingest-0").wait_connected()
    assert edge.finish() == 0
    assert_exactly_once(central, written_ids(edge.events_out))


def test_edge_sigkilled_then_flush(tmp_path, mosq, central):
    start_workers(central, 1)
    cfg = edge_cfg(tmp_path, mosq.port)
    mosq.stop()  # nothing gets out: everything stays in the outbox
    edge = Edge(tmp_path, cfg, n=200, rate=1000)
    edge.wait_line("emitted")
    edge.proc.send_signal(signal.SIGKILL)
    edge.finish()
    ids = written_ids(edge.events_out)
    config = tmp_path / "edge.yaml"
    config.write_text(json.dumps(json.loads(cfg.model_dump_json())))
    env = {**os.environ, "EXTEROS_OUTBOX__CONFIRM_TIMEOUT_S": CONFIRM_S}
    cli = [sys.executable, "-m", "edge.cli"]
    status = subprocess.run([*cli, "status", "--config", str(config)], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=60)  # fmt: skip
    assert status.returncode == 0, status.stderr
    assert f"unsent:      {len(ids)} not yet accepted" in status.stdout
    mosq.start()
    flush = subprocess.run(
        [*cli, "flush", "--config", str(config), "--timeout", "30"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=90,
    )  # fmt: skip
    assert flush.returncode == 0, flush.stderr
    assert f"{len(ids)} message(s) of {len(ids)} confirmed" in flush.stdout
    assert_exactly_once(central, ids)


def test_replayed_twice_counts_once(tmp_path, mosq, central):
    """The same events sent again (a second replay of the same video) are confirmed and
    counted once: the receipt settles duplicates too."""
    start_workers(central, 1)
    cfg = edge_cfg(tmp_path, mosq.port)
    first = Edge(tmp_path, cfg, n=100, rate=1000, name="first")
    assert first.finish() == 0
    second = Edge(tmp_path, cfg, n=100, rate=1000, name="second")
    assert second.finish() == 0
    assert written_ids(first.events_out) == written_ids(second.events_out)
    assert_exactly_once(central, written_ids(second.events_out))
