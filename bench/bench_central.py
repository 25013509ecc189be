"""Benchmark of the central store (a script, not a test).

Measures, on SQLite and on PostgreSQL:

1. ingest events/s through ``Ingestor.process`` (the exact path the MQTT worker
   uses: JSON validation with the contract models, batch insert with ON CONFLICT
   DO NOTHING, commit), in batches of the worker's default size;
2. ingest events/s through MQTT: a backlog queued in a real Mosquitto drained by
   one ``exteros-central ingest`` subprocess (when mosquitto is installed);
3. API latency (p50/p99) of day queries over a year of data for 100 locations,
   against a real ``exteros-central serve`` (uvicorn) over HTTP keep-alive.

Prints numbers and ratios against the targets (>= 5000 events/s into PostgreSQL
per worker, API p99 < 50 ms).

    .venv/bin/python bench/bench_central.py [--events 50000] [--events-per-day 100]
        [--pg postgresql://postgres@127.0.0.1:5432/test] [--skip-mqtt] [--skip-api]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from central.admin import add_device, add_location, create_key  # noqa: E402
from central.config import IngestSettings  # noqa: E402
from central.db import make_engine, migrate  # noqa: E402
from central.models import EventRow, Location  # noqa: E402
from central.store import Ingestor, Message, dump_json  # noqa: E402
from exteros.contract import Event, EventKind, topic  # noqa: E402

TARGET_INGEST = 5000.0
TARGET_P99_MS = 50.0
KINDS = ["impression", "discovery", "engagement", "interaction"]


def payloads(n: int, device: str, location: str, offset: int = 0) -> list[Message]:
    t0 = datetime(2021, 3, 1, 14, 0, tzinfo=UTC)
    out = []
    for i in range(offset, offset + n):
        start = t0 + timedelta(milliseconds=i * 700)
        kind = KINDS[i % 4]
        vid = f"{device}/cam-1/{i // 4}"
        ev = Event(
            event_id=f"{vid}/{kind}",
            kind=EventKind(kind),
            location=location,
            device_id=device,
            camera_id="cam-1",
            visit_id=vid,
            visit_started_at=start,
            occurred_at=start + timedelta(seconds=3),
            dwell_s=3.0,
            confidence=0.8,
        )
        out.append(Message(topic(device, "events"), dump_json(ev.to_payload())))
    return out


class PgSchema:
    def __init__(self, base: str) -> None:
        self.base = base
        self.schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{self.schema}"')
        sep = "&" if "?" in base else "?"
        self.url = f"{base}{sep}options={quote('-csearch_path=' + self.schema)}"

    def drop(self) -> None:
        with psycopg.connect(self.base, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def setup(url: str):  # noqa: ANN201
    engine = make_engine(url)
    migrate(engine)
    add_location(engine, "bench-store", "bench", "America/New_York")
    add_device(engine, "edge-bench", "bench")
    return engine


def bench_ingest(url: str, n: int) -> tuple[float, float]:
    engine = setup(url)
    msgs = payloads(n, "edge-bench", "bench-store")
    ing = Ingestor(engine)
    batch = IngestSettings().batch_size
    ing.process(msgs[:10])  # warm caches and connections
    t = time.perf_counter()
    cpu = time.process_time()
    for i in range(10, n, batch):
        ing.process(msgs[i : i + batch])
    dt = time.perf_counter() - t
    cpu = time.process_time() - cpu
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(EventRow)).scalar_one() == n
    engine.dispose()
    return (n - 10) / dt, (n - 10) / cpu


def bench_mqtt(url: str, n: int) -> tuple[float, float] | None:
    """Backlog drain: N events queued in the broker for a stopped worker's session, then
    the worker is started and timed until all are committed. This measures the worker
    (paho, validation, batch insert, ack), not how fast one Python publisher can publish."""
    import shutil

    if shutil.which("mosquitto") is None:
        return None
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from tests.support.broker import Mosquitto

    engine = setup(url)
    msgs = payloads(n, "edge-bench", "bench-store")
    with (
        tempfile.TemporaryDirectory() as tmp,
        Mosquitto(Path(tmp), extra_conf="max_queued_messages 0\n") as broker,
    ):
        log = Path(tmp) / "worker.log"

        def start_worker() -> subprocess.Popen:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "central",
                    "--db",
                    url,
                    "ingest",
                    "--mqtt-port",
                    str(broker.port),
                    "--client-id",
                    "bench-ingest",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log.open("a"),
            )
            return proc

        def wait_connected(count: int) -> None:
            deadline = time.monotonic() + 60
            while log.read_text().count("connected to") < count:
                if time.monotonic() > deadline:
                    raise RuntimeError("worker did not connect: " + log.read_text())
                time.sleep(0.01)

        worker = start_worker()  # creates the persistent session and its subscriptions
        wait_connected(1)
        time.sleep(0.5)
        worker.terminate()
        worker.wait(10)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub")
        pub.max_inflight_messages_set(1000)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        infos = [pub.publish(m.topic, m.payload, qos=1) for m in msgs]
        for info in infos:
            info.wait_for_publish(120)
        pub.disconnect()
        pub.loop_stop()
        worker = start_worker()
        try:
            wait_connected(2)
            cpu0 = cpu_seconds(worker.pid)
            t = time.perf_counter()
            while True:
                with engine.connect() as c:
                    got = c.execute(select(func.count()).select_from(EventRow)).scalar_one()
                if got >= n:
                    break
                if time.perf_counter() - t > 300:
                    raise RuntimeError(f"only {got} of {n} events arrived")
                time.sleep(0.02)
            dt = time.perf_counter() - t
            cpu = cpu_seconds(worker.pid) - cpu0
        finally:
            worker.terminate()
            worker.wait(10)
    engine.dispose()
    return n / dt, n / cpu if cpu > 0 else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to compare runs on a busy machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_year(url: str, per_day: int, n_locations: int = 100) -> tuple[str, list[str]]:
    """A year of events for ``n_locations`` locations, bulk-loaded (not the ingest path)."""
    engine = make_engine(url)
    migrate(engine)
    names = [f"store-{i:03d}" for i in range(n_locations)]
    for name in names:
        add_location(engine, name, "bench", "America/New_York")
    key, _ = create_key(engine, "bench")
    with engine.connect() as c:
        ids = dict(c.execute(select(Location.name, Location.id)).all())
    rng = random.Random(7)
    day0 = datetime(2021, 1, 1, 14, 0, tzinfo=UTC)  # 09:00 New York
    cols = (
        "event_id, kind, location_id, device_id, camera_id, visit_id, visit_started_ms, "
        "occurred_ms, dwell_s, confidence, received_ms"
    )

    def rows():  # noqa: ANN202
        eid = 0
        for name in names:
            lid = ids[name]
            for d in range(365):
                base = int((day0 + timedelta(days=d)).timestamp() * 1000)
                for j in range(per_day):
                    start = base + rng.randrange(0, 10 * 3600 * 1000)  # 09:00-19:00 local
                    kind = KINDS[min(3, int(rng.expovariate(1.2)))]
                    eid += 1
                    yield (
                        f"e{eid}",
                        kind,
                        lid,
                        "edge-x",
                        "cam-1",
                        f"v{eid}",
                        start,
                        start + 3000,
                        3.0,
                        0.8,
                        start,
                    )
                    del j

    t = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY events ({cols}) FROM STDIN") as cp:
                for r in rows():
                    cp.write_row(r)
            raw.commit()
            cur.execute("ANALYZE events")
            raw.commit()
        else:
            batch = []
            sql = f"INSERT INTO events ({cols}) VALUES ({','.join('?' * 11)})"
            for r in rows():
                batch.append(r)
                if len(batch) >= 50000:
                    cur.executemany(sql, batch)
                    batch.clear()
            cur.executemany(sql, batch)
            raw.commit()
            cur.execute("ANALYZE")
            raw.commit()
    finally:
        raw.close()
    print(f"  loaded {n_locations * 365 * per_day:,} events in {time.perf_counter() - t:.1f} s")
    engine.dispose()
    return key, names


def bench_api(url: str, per_day: int, requests: int) -> tuple[float, float, float]:
    from tests.support.broker import free_port, wait_port

    key, names = load_year(url, per_day)
    port = free_port()
    env = {**os.environ, "EXTEROS_RATE_PER_S": "1000000", "EXTEROS_RATE_BURST": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "central", "--db", url, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        wait_port(port, 30)
        rng = random.Random(11)
        paths = ["impression-counts", "discovery-counts", "engagement-counts", "interaction-counts"]
        lat = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": key}) as c:
            for i in range(requests + 50):
                day = date(2021, 1, 1) + timedelta(days=rng.randrange(365))
                params = {"interval": rng.choice(["hour", "hour", "15min", "day"])}
                path = f"/v1/traffic/{rng.choice(paths)}/{rng.choice(names)}/{day}"
                t = time.perf_counter()
                r = c.get(path, params=params)
                dt = (time.perf_counter() - t) * 1000
                assert r.status_code == 200 and r.json(), r.text
                if i >= 50:  # warm-up excluded
                    lat.append(dt)
    finally:
        server.terminate()
        server.wait(10)
    lat.sort()
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1], max(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--mqtt-events", type=int, default=20000)
    ap.add_argument("--events-per-day", type=int, default=100)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--skip-mqtt", action="store_true")
    ap.add_argument("--skip-api", action="store_true")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for label in [args.only] if args.only else ["sqlite", "postgresql"]:
            pg = PgSchema(args.pg) if label == "postgresql" else None

            def fresh(tag: str) -> str:
                return pg.url if pg else f"sqlite:///{tmp}/{tag}.db"  # noqa: B023

            try:
                if not args.skip_ingest:
                    print(f"[{label}] ingest via Ingestor.process, {args.events} events ...")
                    rate, per_cpu = bench_ingest(fresh("ingest"), args.events)
                    results.append((label, "ingest events/s (worker path)", rate, TARGET_INGEST))
                    results.append((label, "  per CPU-second", per_cpu, TARGET_INGEST))
                if not args.skip_mqtt and not args.skip_ingest:
                    if pg:
                        pg.drop()
                        pg = PgSchema(args.pg)
                    print(f"[{label}] ingest through MQTT, {args.mqtt_events} events ...")
                    got = bench_mqtt(fresh("mqtt"), args.mqtt_events)
                    if got is not None:
                        rate, per_cpu = got
                        results.append(
                            (label, "ingest events/s (MQTT backlog drain)", rate, TARGET_INGEST)
                        )
                        # What one worker does per second of its own CPU time: the rate
                        # with a dedicated core, independent of how busy the machine is.
                        results.append((label, "  per worker CPU-second", per_cpu, TARGET_INGEST))
                if not args.skip_api:
                    if pg:
                        pg.drop()
                        pg = PgSchema(args.pg)
                    print(
                        f"[{label}] API day queries, 100 locations x 365 days x "
                        f"{args.events_per_day} events ..."
                    )
                    p50, p99, worst = bench_api(fresh("api"), args.events_per_day, args.requests)
                    results.append((label, "API day query p50 ms", p50, None))
                    results.append((label, "API day query p99 ms", p99, TARGET_P99_MS))
                    results.append((label, "API day query max ms", worst, None))
            finally:
                if pg:
                    pg.drop()

    print()
    print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'database':<11} {'measure':<36} {'value':>10}  vs target")
    for label, what, value, target in results:
        if target is None:
            ratio = ""
        elif "ms" in what:
            ratio = f"{target / value:5.1f}x under the {target:.0f} ms target"
        else:
            ratio = f"{value / target:5.1f}x the {target:.0f}/s target"
        print(f"{label:<11} {what:<36} {value:>10.1f}  {ratio}")


if __name__ == "__main__":
    main()
