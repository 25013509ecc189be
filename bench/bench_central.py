"""Benchmark of the central store (a script, not a test).

Measures, on SQLite and on PostgreSQL:

1. ingest events/s through ``Ingestor.process`` (the exact path the MQTT worker
   uses: JSON validation with the contract models, batch insert with ON CONFLICT
   DO NOTHING, commit), in batches of the worker's default size;
2. ingest events/s through MQTT: a backlog queued in a real Mosquitto drained by
   one ``exteros-central ingest`` subprocess (when mosquitto is installed);
3. API latency (p50/p99) over a year of data for 100 locations (events and visit
   summaries), against a real ``exteros-central serve`` (uvicorn) over HTTP keep-alive:
   day queries (the four counts, funnel and dwell, each interval) and 366-day range
   queries (``to``; the same endpoints and intervals).

Prints numbers and ratios against the targets (>= 5000 events/s into PostgreSQL
per worker, day query p99 < 50 ms, 366-day range query p99 < 200 ms).

    .venv/bin/python bench/bench_central.py [--events 50000] [--events-per-day 100]
        [--visits-per-day 40] [--range-requests 200]
        [--pg postgresql://postgres@127.0.0.1:5432/test] [--skip-mqtt] [--skip-api]
"""

from __future__ import annotations

import argparse
import math
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
from central.models import EventRow, Location, VisitRow  # noqa: E402
from central.store import Ingestor, Message, dump_json  # noqa: E402
from exteros.contract import Event, EventKind, topic  # noqa: E402

TARGET_INGEST = 5000.0
TARGET_P99_MS = 50.0
TARGET_RANGE_P99_MS = 200.0
KINDS = ["impression", "discovery", "engagement", "interaction"]
COUNT_PATHS = ["impression-counts", "discovery-counts", "engagement-counts", "interaction-counts"]


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


def _copy_rows(engine, table: str, cols: str, rows) -> None:  # noqa: ANN001
    """Bulk-load rows: COPY on PostgreSQL, executemany in batches on SQLite."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        else:
            batch = []
            sql = f"INSERT INTO {table} ({cols}) VALUES ({','.join('?' * len(cols.split(',')))})"
            for r in rows:
                batch.append(r)
                if len(batch) >= 50000:
                    cur.executemany(sql, batch)
                    batch.clear()
            cur.executemany(sql, batch)
        raw.commit()
    finally:
        raw.close()


def load_year(
    url: str, per_day: int, visits_per_day: int, n_locations: int = 100
) -> tuple[str, list[str]]:
    """A year of events and visit summaries for ``n_locations`` locations, bulk-loaded
    (not the ingest path)."""
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

    def starts(n: int):  # noqa: ANN202
        """(location id, visit start ms) for n visits a day, 09:00-19:00 local, day by day
        and location by location interleaved as a live store receives them."""
        for d in range(365):
            base = int((day0 + timedelta(days=d)).timestamp() * 1000)
            for name in names:
                for _ in range(n):
                    yield ids[name], base + rng.randrange(0, 10 * 3600 * 1000)

    def event_rows():  # noqa: ANN202
        for eid, (lid, start) in enumerate(starts(per_day)):
            kind = KINDS[min(3, int(rng.expovariate(1.2)))]
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

    def visit_rows():  # noqa: ANN202
        for vid, (lid, start) in enumerate(starts(visits_per_day)):
            dwell = round(rng.expovariate(1 / 20), 3)
            end = start + int(dwell * 1000)
            yield (f"edge-x/v{vid}", "edge-x", lid, "cam-1", start, end, dwell, "impression", end)

    t = time.perf_counter()
    _copy_rows(
        engine,
        "events",
        "event_id, kind, location_id, device_id, camera_id, visit_id, visit_started_ms, "
        "occurred_ms, dwell_s, confidence, received_ms",
        event_rows(),
    )
    _copy_rows(
        engine,
        "visits",
        "visit_id, device_id, location_id, camera_id, started_ms, ended_ms, dwell_s, kinds, "
        "received_ms",
        visit_rows(),
    )
    with engine.connect() as c:
        # VACUUM ANALYZE on PostgreSQL: statistics and the visibility map (index-only scans),
        # as autovacuum would have them on a store that has been running for a year.
        c.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
        )
        n_events = c.execute(select(func.count()).select_from(EventRow)).scalar_one()
        n_visits = c.execute(select(func.count()).select_from(VisitRow)).scalar_one()
    print(
        f"  loaded {n_events:,} events and {n_visits:,} visits in {time.perf_counter() - t:.1f} s"
    )
    engine.dispose()
    return key, names


def percentiles(lat: list[float]) -> tuple[float, float, float]:
    """p50, p99 (nearest rank) and max."""
    lat = sorted(lat)
    return statistics.median(lat), lat[math.ceil(len(lat) * 0.99) - 1], lat[-1]


def bench_api(
    url: str, per_day: int, visits_per_day: int, requests: int, range_requests: int
) -> tuple[dict[str, tuple[float, float, float]], dict[str, float]]:
    """-> ({"day": (p50, p99, max) ms, "range": ..., "range <endpoint> <interval>": ...},
    {"day": API process CPU ms per request, "range": ...})."""
    from tests.support.broker import free_port, wait_port

    key, names = load_year(url, per_day, visits_per_day)
    port = free_port()
    env = {**os.environ, "EXTEROS_RATE_PER_S": "1000000", "EXTEROS_RATE_BURST": "1000000"}
    server = subprocess.Popen(
        [sys.executable, "-m", "central", "--db", url, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    rng = random.Random(11)
    endpoints = [*COUNT_PATHS, "funnel", "dwell"]
    out: dict[str, list[float]] = {}
    cpu: dict[str, float] = {}  # API process CPU ms per request (not the database's)
    try:
        wait_port(port, 30)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": key}, timeout=60
        ) as c:

            def timed(label: str, path: str, params: dict[str, str], warm: bool) -> None:
                t = time.perf_counter()
                r = c.get(path, params=params)
                dt = (time.perf_counter() - t) * 1000
                assert r.status_code == 200 and r.json(), r.text
                if not warm:
                    out.setdefault(label, []).append(dt)

            for i in range(requests + 50):
                if i == 50:
                    cpu0 = cpu_seconds(server.pid)
                day = date(2021, 1, 1) + timedelta(days=rng.randrange(365))
                params = {"interval": rng.choice(["hour", "hour", "15min", "day"])}
                path = f"/v1/traffic/{rng.choice(endpoints)}/{rng.choice(names)}/{day}"
                timed("day", path, params, warm=i < 50)  # warm-up excluded
            cpu["day"] = (cpu_seconds(server.pid) - cpu0) * 1000 / requests
            for i in range(range_requests + 5):
                if i == 5:
                    cpu0 = cpu_seconds(server.pid)
                endpoint = rng.choice(endpoints)
                first = date(2021, 1, 1) + timedelta(days=rng.randrange(-1, 1))
                params = {
                    "to": str(first + timedelta(days=365)),  # 366 days
                    "interval": rng.choice(["hour", "15min", "day"]),
                }
                path = f"/v1/traffic/{endpoint}/{rng.choice(names)}/{first}"
                kind = endpoint if endpoint in ("funnel", "dwell") else "counts"
                timed("range", path, params, warm=i < 5)
                if i >= 5:
                    out.setdefault(f"range {kind} {params['interval']}", []).append(
                        out["range"][-1]
                    )
            cpu["range"] = (cpu_seconds(server.pid) - cpu0) * 1000 / range_requests
    finally:
        server.terminate()
        server.wait(10)
    return {label: percentiles(lat) for label, lat in out.items()}, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=50000)
    ap.add_argument("--mqtt-events", type=int, default=20000)
    ap.add_argument("--events-per-day", type=int, default=100)
    ap.add_argument("--visits-per-day", type=int, default=40)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--range-requests", type=int, default=200)
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
                        f"[{label}] API day and 366-day range queries, 100 locations x 365 "
                        f"days x {args.events_per_day} events and {args.visits_per_day} visits ..."
                    )
                    got, cpu = bench_api(
                        fresh("api"),
                        args.events_per_day,
                        args.visits_per_day,
                        args.requests,
                        args.range_requests,
                    )
                    for what, target in (("day", TARGET_P99_MS), ("range", TARGET_RANGE_P99_MS)):
                        p50, p99, worst = got.pop(what)
                        name = "day query" if what == "day" else "366-day range query"
                        results.append((label, f"API {name} p50 ms", p50, None))
                        results.append((label, f"API {name} p99 ms", p99, target))
                        results.append((label, f"API {name} max ms", worst, None))
                        results.append((label, "  API process CPU ms/request", cpu[what], None))
                    for what in sorted(got):
                        p50, p99, _ = got[what]
                        results.append((label, f"  {what} p50 ms", p50, None))
                        results.append((label, f"  {what} p99 ms", p99, None))
            finally:
                if pg:
                    pg.drop()

    print()
    print(f"load average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'database':<11} {'measure':<40} {'value':>10}  vs target")
    for label, what, value, target in results:
        if target is None:
            ratio = ""
        elif "ms" in what:
            ratio = f"{target / value:5.1f}x under the {target:.0f} ms target"
        else:
            ratio = f"{value / target:5.1f}x the {target:.0f}/s target"
        print(f"{label:<11} {what:<40} {value:>10.1f}  {ratio}")


if __name__ == "__main__":
    main()
