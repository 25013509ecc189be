"""replay/flush/status through the real CLI with a real Mosquitto that goes away.

A real ingest worker (SQLite store, in this process) sends the receipts without
which the edge keeps every event; each test ends with every event of
--events-out in the store exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import load_config
from edge.scenarios import generate
from tests.support.broker import Mosquitto, free_port
from tests.support.central import Central

pytestmark = pytest.mark.model


class Subscriber:
    """A QoS 1 subscriber with a persistent session, so nothing is lost across restarts."""

    def __init__(self, port: int, device_id: str) -> None:
        self.ids: set[str] = set()
        self.lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-sub",
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, *_: c.subscribe(f"exteros/v1/{device_id}/+", qos=1)
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.reconnect_delay_set(0.2, 1)
        props = mqtt.Properties(mqtt.PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscriber did not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        if msg.topic.endswith(("/events", "/visits")):
            payload = json.loads(msg.payload)
            with self.lock:
                self.ids.add(payload.get("event_id") or payload["visit_id"])

    def wait_for(self, ids: set[str], timeout_s: float) -> set[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if ids <= self.ids:
                    break
            time.sleep(0.2)
        with self.lock:
            return ids - self.ids

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def written_ids(path: Path) -> set[str]:
    out = set()
    for line in path.read_text().splitlines():
        p = json.loads(line)
        out.add(p.get("event_id") or p["visit_id"])
    return out


def edge_env(port: int, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EXTEROS_MQTT__PORT": str(port),
        "EXTEROS_STATE_DIR": str(state),
        "EXTEROS_MQTT__RECONNECT_MIN_S": "0.2",
        "EXTEROS_MQTT__RECONNECT_MAX_S": "1",
        "EXTEROS_OUTBOX__CONFIRM_TIMEOUT_S": "2",
    }


def make_central(tmp_path: Path, port: int, scenario) -> Central:  # noqa: ANN001
    cfg = load_config(scenario.config)
    return Central(f"sqlite:///{tmp_path / 'central.db'}", port, tmp_path / "central",
                   devices=(cfg.device_id,), locations=tuple(cfg.locations()))  # fmt: skip


def assert_stored_once(central: Central, ids: set[str]) -> None:
    kinds = ("impression", "discovery", "engagement", "interaction")
    events = {i for i in ids if i.rsplit("/", 1)[-1] in kinds}  # event ids end in /<kind>
    assert events and central.wait_events(events, 30) == set()
    counts = central.event_counts()
    assert all(counts[i] == 1 for i in events)
    assert ids - events <= central.visit_ids()


def edge(args: list[str], env: dict[str, str], timeout: float = 900):
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    cache = os.environ.get("EXTEROS_SCENARIO_CACHE")
    return generate("group", Path(cache) if cache else tmp_path_factory.mktemp("scen"))


def test_broker_restarted_mid_replay_loses_nothing(tmp_path, scenario):
    with Mosquitto(tmp_path / "broker") as broker:
        central = make_central(tmp_path, broker.port, scenario)
        central.start_thread_worker()
        sub = Subscriber(broker.port, "edge-test-01")
        out = tmp_path / "events.jsonl"
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "replay", str(scenario.video), "--config",
             str(scenario.config), "--start", "2020-01-01T09:00:00Z", "--events-out", str(out),
             "--quiet", "--drain-timeout", "120"],
            env=edge_env(broker.port, tmp_path / "state"), stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 600
            while (not out.exists() or not out.read_text()) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert proc.poll() is None, "replay ended before the broker could be stopped"
            broker.stop()  # mid-replay
            time.sleep(3)
            broker.start()
            _, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, err[-2000:]
            ids = written_ids(out)
            assert len(ids) >= 3
            assert sub.wait_for(ids, 60) == set()
            assert_stored_once(central, ids)
        finally:
            if proc.poll() is None:
                proc.kill()
            sub.stop()
            central.close()


def test_drain_timeout_keeps_rows_and_flush_delivers_them(tmp_path, scenario):
    port = free_port()  # nothing listens yet
    env = edge_env(port, tmp_path / "state")
    out = tmp_path / "events.jsonl"
    proc = edge(["replay", str(scenario.video), "--config", str(scenario.config), "--start",
                 "2020-01-01T09:00:00Z", "--events-out", str(out), "--quiet",
                 "--drain-timeout", "1"], env)  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert "not confirmed by the central store within --drain-timeout 1 s" in proc.stderr
    ids = written_ids(out)
    status = edge(["status", "--config", str(scenario.config)], env, timeout=60)
    assert status.returncode == 0, status.stderr
    assert f"unsent:      {len(ids)} not yet accepted" in status.stdout
    with Mosquitto(tmp_path / "broker", port=port) as broker:
        central = make_central(tmp_path, port, scenario)
        central.start_thread_worker()
        sub = Subscriber(broker.port, "edge-test-01")
        try:
            flush = edge(["flush", "--config", str(scenario.config), "--timeout", "60"], env, 120)
            assert flush.returncode == 0, flush.stderr
            assert sub.wait_for(ids, 30) == set()
            assert_stored_once(central, ids)
        finally:
            sub.stop()
            central.close()
