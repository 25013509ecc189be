"""MQTT test helpers shared by the edge's broker tests: configs, events, a subscriber.

``make_cfg`` builds an edge config pointing at a test broker, ``ev``/``ids`` make numbered
contract events, ``Collector`` is a persistent QoS 1 subscriber and ``wait_until`` polls a
condition with a deadline.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.config import EdgeConfig
from exteros.contract import Event

ROOT = Path(__file__).resolve().parents[2]  # the repository
DEVICE = "dev-a"


def make_cfg(tmp_path: Path, port: int, device_id: str = DEVICE, **mqtt_kw: Any) -> EdgeConfig:
    outbox = mqtt_kw.pop("outbox", {})
    mq = {"host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    mq.update(mqtt_kw)
    return EdgeConfig(
        device_id=device_id,
        state_dir=tmp_path / f"state-{device_id}",
        heartbeat_s=1.0,
        mqtt=mq,
        outbox=outbox,
        cameras=[
            {
                "camera_id": "cam-1",
                "source": "video.mp4",
                "zones": [{"location": "loc-1", "polygon": [[0, 0], [1, 0], [1, 1]]}],
            }
        ],
    )


T0 = datetime(2020, 1, 1, 9, 0, tzinfo=UTC)


def ev(i: int, device_id: str = DEVICE) -> Event:
    t = T0 + timedelta(seconds=i)
    return Event(
        event_id=f"{device_id}/cam-1/{i}/impression",
        kind="impression",
        location="loc-1",
        device_id=device_id,
        camera_id="cam-1",
        visit_id=f"{device_id}/cam-1/{i}",
        visit_started_at=t,
        occurred_at=t,
        dwell_s=0.5,
        confidence=0.9,
    )


def ids(n: int, start: int = 0, device_id: str = DEVICE) -> set[str]:
    return {ev(i, device_id).event_id for i in range(start, n)}


class Collector:
    """A QoS 1 subscriber with a persistent session that reconnects on its own."""

    def __init__(
        self,
        port: int,
        client_id: str,
        topics: tuple[str, ...] = ("exteros/v1/+/events",),
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.subscribed = threading.Event()
        self.topics = topics
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        if username:
            c.username_pw_set(username, password)
        c.reconnect_delay_set(0.1, 0.3)
        c.on_connect = self._on_connect
        c.on_subscribe = lambda *a: self.subscribed.set()
        c.on_message = self._on_message
        c.connect_async("127.0.0.1", port, keepalive=10)
        c.loop_start()
        self.client = c

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, client, userdata, msg) -> None:
        self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def event_ids(self) -> set[str]:
        return {p["event_id"] for _, p, _ in list(self.messages) if "event_id" in p}

    def wait_subscribed(self, timeout: float = 10) -> None:
        assert self.subscribed.wait(timeout), "subscriber never got its SUBACK"

    def wait_ids(self, want: set[str], timeout: float = 20) -> set[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want <= self.event_ids():
            time.sleep(0.05)
        return want - self.event_ids()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_until(pred, timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()
