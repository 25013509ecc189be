"""Outbox benchmark (a script, not a test): commit rate, CONFIRMED delivery rate, latency.

    .venv/bin/python bench/bench_outbox.py [--events 10000] [--db URL]

Measured in one run on this machine, end to end as in production: edge outbox
-> real Mosquitto on loopback -> a real ``exteros-central ingest`` process ->
the store (SQLite file by default, ``--db postgresql://...`` for PostgreSQL)
-> receipt on ``exteros/v1/{device}/acks`` -> outbox row deleted:

* committed/s: ``Outbox.put`` (WAL, synchronous=FULL, one fsync per event),
  with synchronous=NORMAL as the in-run baseline (what FULL costs);
* confirmed/s: ``MqttOutput.emit`` as fast as possible until the store has
  confirmed every event (the outbox is empty), with raw paho QoS 1 publishing
  to a ``mosquitto_sub`` (no outbox, no store) as the in-run baseline;
* latency from ``emit`` to the receipt (row deleted), p50/p99, for the flood
  and for a steady 2,000 events/s stream.

Targets (issue 14): >= 2,000 events/s confirmed, p99 < 1 s at a steady 2,000/s.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion  # noqa: E402

from edge.config import EdgeConfig  # noqa: E402
from edge.outbox import Outbox  # noqa: E402
from edge.outputs.mqtt import MqttOutput  # noqa: E402
from exteros.contract import Event, topic  # noqa: E402
from tests.support.broker import Mosquitto  # noqa: E402
from tests.support.central import Central  # noqa: E402

TARGET_RATE = 2000.0
TARGET_P99 = 1.0
T0 = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)


def event(i: int) -> Event:
    t = T0 + timedelta(milliseconds=i)
    return Event(
        event_id=f"bench-01/cam-entrance/{1577869200000 + i}-{i}/discovery",
        kind="discovery",
        location="madison-ave-store",
        device_id="bench-01",
        camera_id="cam-entrance",
        visit_id=f"bench-01/cam-entrance/{1577869200000 + i}-{i}",
        visit_started_at=t,
        occurred_at=t + timedelta(seconds=3),
        dwell_s=3.0,
        confidence=0.81,
    )


def payload(i: int) -> bytes:
    return json.dumps(event(i).to_payload(), separators=(",", ":")).encode()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_commit(tmp: Path, n: int, sync: str, batch: int) -> float:
    """Rows committed per second, ``batch`` rows per transaction (one fsync each)."""
    ob = Outbox(tmp / f"commit-{sync}-{batch}.sqlite3", max_rows=10 * n)
    ob._db.execute(f"PRAGMA synchronous={sync}")
    rows = [("exteros/v1/bench-01/events", payload(1), time.time())] * batch
    t = time.perf_counter()
    for _ in range(n // batch):
        ob.write(rows)
    took = time.perf_counter() - t
    ob.close()
    return (n // batch) * batch / took


class Counter:
    """``mosquitto_sub`` in its own process: exits after n messages."""

    def __init__(self, port: int, n: int) -> None:
        self.proc = subprocess.Popen(
            [
                "mosquitto_sub",
                "-p",
                str(port),
                "-q",
                "1",
                "-C",
                str(n),
                "-t",
                "exteros/v1/+/events",
            ],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # let it subscribe

    def wait(self, timeout: float) -> float:
        self.proc.wait(timeout)
        return time.perf_counter()


def config(tmp: Path, port: int, name: str) -> EdgeConfig:
    return EdgeConfig(
        device_id="bench-01",
        state_dir=tmp / name,
        mqtt={"port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 1.0},
        # drain_rate is a policy cap for backlogs; lift it to measure capacity.
        outbox={"drain_rate": 1e6, "max_inflight": 100},
        cameras=[
            {
                "camera_id": "cam-entrance",
                "source": "x.mp4",
                "zones": [{"location": "madison-ave-store", "polygon": [[0, 0], [1, 0], [1, 1]]}],
            }
        ],
    )


def bench_raw_paho(port: int, n: int) -> float:
    """Baseline: paho QoS 1 with no outbox, wait_for_publish on the last."""
    counter = Counter(port, n)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    c.max_inflight_messages_set(100)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port)
    c.loop_start()
    data = payload(1)
    t = time.perf_counter()
    info = None
    for _ in range(n):
        info = c.publish(topic("bench-01", "events"), data, qos=1)
    info.wait_for_publish(60)
    end = counter.wait(60)
    c.disconnect()
    c.loop_stop()
    return n / (end - t)


def wait_confirmed(out: MqttOutput, timeout: float) -> float:
    """Until the store confirmed everything (outbox empty); returns that time."""
    assert out.wait_drained(timeout), f"{out.depth()} event(s) not confirmed in {timeout} s"
    return time.perf_counter()


def bench_flood(tmp: Path, port: int, n: int) -> tuple[float, float, float, list[float]]:
    """emit() as fast as possible: emit rate, committed rate, confirmed rate, latencies."""
    out = MqttOutput(config(tmp, port, "flood"), version="bench")
    while not out.connected:
        time.sleep(0.01)
    events = [event(i) for i in range(n)]
    t = time.perf_counter()
    for e in events:
        out.emit(e)
    emitted = time.perf_counter()
    assert out.sync(60)
    committed = time.perf_counter()
    end = wait_confirmed(out, 120)
    assert out.close(drain_timeout_s=10)
    assert out.resent == 0, f"{out.resent} re-sent: the receipts were too slow"
    return n / (emitted - t), n / (committed - t), n / (end - t), list(out.ack_latencies)


def bench_paced(
    tmp: Path, port: int, rate: float, seconds: float, offset: int
) -> tuple[float, list[float]]:
    n = int(rate * seconds)
    out = MqttOutput(config(tmp, port, f"paced-{rate:g}"), version="bench")
    while not out.connected:
        time.sleep(0.01)
    events = [event(offset + i) for i in range(n)]
    t = time.perf_counter()
    for i, e in enumerate(events):
        due = t + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        out.emit(e)
    end = wait_confirmed(out, 120)
    assert out.close(drain_timeout_s=10)
    return n / (end - t), list(out.ack_latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000, help="events in the flood run")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the paced run")
    parser.add_argument("--db", help="store URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not shutil.which("mosquitto") or not shutil.which("mosquitto_sub"):
        sys.exit("needs mosquitto and mosquitto_sub")

    with tempfile.TemporaryDirectory(prefix="bench-outbox-") as d:
        tmp = Path(d)
        full1 = bench_commit(tmp, 1000, "FULL", 1)
        normal1 = bench_commit(tmp, 1000, "NORMAL", 1)
        full100 = bench_commit(tmp, 20000, "FULL", 100)
        with Mosquitto(tmp / "broker", extra_conf="max_queued_messages 0\n") as broker:
            raw = bench_raw_paho(broker.port, args.events)
            central = Central(args.db or f"sqlite:///{tmp / 'central.db'}", broker.port,
                              tmp / "central", devices=("bench-01",),
                              locations=("madison-ave-store",))  # fmt: skip
            try:
                central.start_proc_worker("bench-ingest").wait_connected()
                emit_rate, committed, delivered, flood_lat = bench_flood(
                    tmp, broker.port, args.events
                )
                paced_rate, paced_lat = bench_paced(
                    tmp, broker.port, TARGET_RATE, args.seconds, args.events
                )
                stored = central.n_events()
            finally:
                central.close()
        expected = args.events + int(TARGET_RATE * args.seconds)
        assert stored == expected, f"store has {stored} events, expected {expected}"

    store = "PostgreSQL" if args.db and args.db.startswith("postgres") else "SQLite"
    print(f"sqlite {sqlite3.sqlite_version}, {args.events} events of {len(payload(1))} bytes, "
          f"store {store}, {stored} events stored once each")  # fmt: skip
    print(
        f"Outbox.put one row per commit: FULL {full1:8.0f}/s   NORMAL {normal1:8.0f}/s   "
        f"FULL/NORMAL {full1 / normal1:5.2f}"
    )
    print(
        f"Outbox.write 100 rows per commit (FULL): {full100:8.0f}/s   "
        f"vs one per commit {full100 / full1:6.1f}x"
    )
    print(
        f"MqttOutput committed/s (group commit, FULL) {committed:8.0f}   "
        f"committed/target {committed / TARGET_RATE:5.2f}   emit() calls/s {emit_rate:8.0f}"
    )
    print(
        f"confirmed/s (outbox->broker->ingest->store->receipt) {delivered:8.0f}   "
        f"raw paho to broker only {raw:8.0f}   confirmed/raw {delivered / raw:5.2f}   "
        f"confirmed/target {delivered / TARGET_RATE:5.2f}"
    )
    for name, lat, rate in (
        ("flood", flood_lat, delivered),
        (f"steady {TARGET_RATE:.0f}/s", paced_lat, paced_rate),
    ):
        p50, p99 = pct(lat, 0.50), pct(lat, 0.99)
        print(
            f"latency emit->receipt [{name}] ({rate:.0f}/s confirmed, n={len(lat)}): "
            f"p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
            f"mean {statistics.fmean(lat) * 1000:7.1f} ms  p99/target {p99 / TARGET_P99:5.2f}"
        )


if __name__ == "__main__":
    main()
