"""The MQTT ingest worker against a real Mosquitto: dead letters, a SIGKILL, two workers."""

from __future__ import annotations

import json
import signal
import threading
import time

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from central.admin import add_device, add_location, create_key
from central.api import create_app
from central.config import IngestSettings
from central.ingest import IngestWorker, MqttOptions
from central.models import EventRow
from central.store import dump_json
from exteros.contract import topic
from tests.central import scenario as sc
from tests.central.conftest import PgSchema
from tests.support.central import ProcWorker, counts, publish_all, wait_for


def event_messages(n: int, offset: int = 0) -> list[tuple[str, bytes]]:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2020, 1, 1, 14, 0, tzinfo=UTC)
    return [
        (
            topic(sc.DEVICE, "events"),
            dump_json(sc.make_event("impression", t0 + timedelta(seconds=i), i).to_payload()),
        )
        for i in range(offset, offset + n)
    ]


def setup_company(engine) -> str:  # noqa: ANN001
    add_location(engine, sc.LOCATION, "acme", sc.TZ)
    add_device(engine, sc.DEVICE, "acme")
    key, _ = create_key(engine, "acme")
    return key


def test_malformed_stream_is_dead_lettered_and_worker_survives(engine, mosq):
    setup_company(engine)
    worker = IngestWorker(engine, MqttOptions(port=mosq.port, client_id="ingest-malformed"))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(worker.connected.is_set, 15, "connect")
        time.sleep(0.3)  # let the SUBACK land
        bad = [
            b"not json",
            b"{",
            b"[]",
            b"\xff\x00\xfe",
            b'{"schema": "exteros.event/1"}',
            json.dumps({"hello": "world"}).encode(),
        ]
        good = event_messages(100)
        stream: list[tuple[str, bytes]] = []
        for i in range(300):
            stream.append((topic(sc.DEVICE, "events"), bad[i % len(bad)]))
            if i % 3 == 0:
                stream.append(good[i // 3])
        stream.append((topic("edge-stranger", "events"), good[0][1]))
        publish_all(mosq.port, stream)
        wait_for(lambda: counts(engine) == (100, 301), 60, "all messages stored")
        assert thread.is_alive()
        # And it keeps ingesting afterwards.
        publish_all(mosq.port, event_messages(5, offset=1000))
        wait_for(lambda: counts(engine) == (105, 301), 30, "later messages")
    finally:
        worker.stop()
        thread.join(10)


def test_worker_killed_mid_stream_loses_nothing_and_counts_nothing_twice(tmp_path, mosq):
    pg = PgSchema()
    try:
        from central.db import make_engine, migrate

        engine = make_engine(pg.url)
        migrate(engine)
        setup_company(engine)
        log = tmp_path / "worker.log"
        w = ProcWorker(pg.url, mosq.port, "ingest-kill", log)
        w.wait_connected()
        time.sleep(0.3)
        n = 6000
        msgs = event_messages(n)
        pub = threading.Thread(target=publish_all, args=(mosq.port, msgs + msgs[:500]))
        pub.start()
        wait_for(lambda: counts(engine)[0] >= 500, 60, "first events")
        w.stop(signal.SIGKILL)
        at_kill = counts(engine)[0]
        assert at_kill < n, "the worker finished before it could be killed"
        w2 = ProcWorker(pg.url, mosq.port, "ingest-kill", log)
        pub.join(60)
        wait_for(lambda: counts(engine)[0] >= n, 90, "all events after restart")
        time.sleep(0.5)
        assert counts(engine) == (n, 0)
        with engine.connect() as c:
            distinct = c.execute(select(func.count(func.distinct(EventRow.event_id)))).scalar_one()
        assert distinct == n
        w2.stop()
        assert w2.proc.returncode == 0
        engine.dispose()
    finally:
        pg.drop()


def test_two_workers_end_to_end_reproduce_the_published_example(tmp_path, mosq):
    from central.db import make_engine, migrate

    url = f"sqlite:///{tmp_path}/two.db"
    engine = make_engine(url)
    migrate(engine)
    key = setup_company(engine)
    w1 = ProcWorker(url, mosq.port, "ingest-a", tmp_path / "a.log")
    w2 = ProcWorker(url, mosq.port, "ingest-b", tmp_path / "b.log")
    try:
        w1.wait_connected()
        w2.wait_connected()
        time.sleep(0.3)
        day = sc.published_day()
        msgs = [
            (
                topic(m.device_id, "events" if m.schema_ == "exteros.event/1" else "visits"),
                dump_json(m.to_payload()),
            )
            for m in day
        ]
        n_events = sum(1 for m in day if m.schema_ == "exteros.event/1")
        publish_all(mosq.port, msgs)
        wait_for(lambda: counts(engine)[0] == n_events, 90, "all events")
    finally:
        w1.stop()
        w2.stop()
    assert counts(engine) == (n_events, 0)
    # Both workers took a share of the stream.
    for log in ("a.log", "b.log"):
        text = (tmp_path / log).read_text()
        assert "stopping; ingested:" in text
        taken = int(text.split("stopping; ingested: {'events': ")[1].split(",")[0])
        assert taken > 0, text
    client = TestClient(create_app(engine))
    for kind, path in [
        ("impression", "impression-counts"),
        ("discovery", "discovery-counts"),
        ("engagement", "engadgment-counts"),
        ("interaction", "interaction-counts"),
    ]:
        r = client.get(f"/v1/traffic/{path}/{sc.LOCATION}/{sc.DAY}", headers={"Authorization": key})
        assert r.json() == sc.PUBLISHED[kind]
    engine.dispose()


def test_broker_restart_mid_stream_loses_nothing(tmp_path, mosq):
    from central.db import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path}/restart.db")
    migrate(engine)
    setup_company(engine)
    # Small slow batches so the broker restart surely lands mid-stream.
    slow = IngestSettings(batch_size=20, batch_wait_s=0.02, receive_maximum=40)
    worker = IngestWorker(engine, MqttOptions(port=mosq.port, client_id="ingest-restart"), slow)
    real_commit = worker._commit

    def slow_commit(batch):  # noqa: ANN001, ANN202 - ~400 events/s at most
        time.sleep(0.05)
        return real_commit(batch)

    worker._commit = slow_commit
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        wait_for(worker.connected.is_set, 15, "connect")
        time.sleep(0.3)
        n = 3000
        publish_all(mosq.port, event_messages(n))
        wait_for(lambda: counts(engine)[0] >= 100, 60, "first events")
        mosq.stop()  # graceful: Mosquitto persists the worker's session and its queue
        assert counts(engine)[0] < n, "the worker finished before the broker stopped"
        mosq.start()
        wait_for(lambda: counts(engine)[0] >= n, 120, "all events after the broker restart")
        time.sleep(0.5)
        assert counts(engine) == (n, 0)
        assert thread.is_alive()
    finally:
        worker.stop()
        thread.join(10)
        engine.dispose()
