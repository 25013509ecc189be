"""A real central store for delivery tests: SQLite (or PostgreSQL), real ingest workers.

Workers run either in this process (:meth:`Central.start_thread_worker`, cheap)
or as ``exteros-central ingest`` subprocesses (:meth:`Central.start_proc_worker`,
which a test can SIGKILL). :meth:`Central.event_counts` reads the store, so a
test checks "counted exactly once" where it counts.
"""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from central.admin import add_device, add_location
from central.db import make_engine, migrate
from central.ingest import IngestWorker, MqttOptions
from central.models import DeadLetter, EventRow, VisitRow

ROOT = Path(__file__).resolve().parents[2]
COMPANY = "acme"
TZ = "UTC"


class ProcWorker:
    """``python -m central ingest`` as a subprocess; its log in a file."""

    def __init__(self, db_url: str, port: int, client_id: str, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "central", "--db", db_url, "ingest", "--mqtt-port", str(port),
             "--client-id", client_id],
            stdout=subprocess.DEVNULL, stderr=log.open("a"), cwd=ROOT,
        )  # fmt: skip

    def wait_connected(self, n: int = 1, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.log.exists() and self.log.read_text().count("connected to") >= n:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"ingest worker exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        raise AssertionError(f"ingest worker did not connect: {self.log.read_text()[-2000:]}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ThreadWorker:
    def __init__(self, engine, port: int, client_id: str, **auth: str) -> None:  # noqa: ANN001
        opts = MqttOptions(port=port, client_id=client_id, **auth)
        self.worker = IngestWorker(engine, opts)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def wait_connected(self, timeout_s: float = 10) -> None:
        assert self.worker.connected.wait(timeout_s), "ingest worker did not connect"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.worker.stop()
        self.thread.join(15)


class Central:
    """One store with a company, its locations and devices; workers added on demand."""

    def __init__(
        self,
        db_url: str,
        port: int,
        workdir: Path,
        devices: tuple[str, ...] = ("dev-a",),
        locations: tuple[str, ...] = ("loc-1",),
    ) -> None:
        self.db_url = db_url
        self.port = port
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(db_url)
        migrate(self.engine)
        for loc in locations:
            add_location(self.engine, loc, COMPANY, TZ)
        for dev in devices:
            add_device(self.engine, dev, COMPANY)
        self.workers: list[ProcWorker | ThreadWorker] = []

    def start_thread_worker(
        self, client_id: str = "ingest-t1", wait: bool = True, **auth: str
    ) -> ThreadWorker:
        """An in-process worker; ``wait=False`` when the broker is not up yet.

        ``auth``: ``username=..., password=...`` for a broker with a password file.
        """
        w = ThreadWorker(self.engine, self.port, client_id, **auth)
        self.workers.append(w)
        if wait:
            w.wait_connected()
        return w

    def start_proc_worker(self, client_id: str = "ingest-p1") -> ProcWorker:
        w = ProcWorker(self.db_url, self.port, client_id, self.workdir / f"{client_id}.log")
        self.workers.append(w)
        return w

    def event_counts(self) -> collections.Counter[str]:
        """event_id -> rows in the store (the store's own dedup shows as 1)."""
        with self.engine.connect() as c:
            rows = c.execute(select(EventRow.event_id)).scalars().all()
        return collections.Counter(rows)

    def visit_ids(self) -> set[str]:
        with self.engine.connect() as c:
            return set(c.execute(select(VisitRow.visit_id)).scalars().all())

    def n_events(self) -> int:
        with self.engine.connect() as c:
            return c.execute(select(func.count()).select_from(EventRow)).scalar_one()

    def wait_events(self, want: set[str], timeout_s: float = 30) -> set[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if want <= set(self.event_counts()):
                break
            time.sleep(0.1)
        return want - set(self.event_counts())

    def close(self) -> None:
        for w in self.workers:
            w.stop()
        self.engine.dispose()


# -- helpers shared by the central ingest tests ----------------------------------------------
def counts(engine: Engine) -> tuple[int, int]:
    """(events stored, dead letters) in the store."""
    with engine.connect() as c:
        ev = c.execute(select(func.count()).select_from(EventRow)).scalar_one()
        dead = c.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
    return ev, dead


def wait_for(pred, timeout_s: float = 60, what: str = "condition"):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def publish_all(port: int, messages: list[tuple[str, bytes]], qos: int = 1) -> None:
    """Publish and wait until the broker acknowledged every message."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    c.max_inflight_messages_set(200)
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        infos = [c.publish(t, p, qos=qos) for t, p in messages]
        for info in infos:
            info.wait_for_publish(30)
            assert info.is_published()
    finally:
        c.disconnect()
        c.loop_stop()
