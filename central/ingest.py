"""The MQTT ingest worker: shared subscription in, database transaction, then PUBACK.

paho's callbacks only enqueue (never block or lock in them); the main loop
drains the queue into batches, commits each batch through ``Ingestor`` and
acknowledges its messages only after the commit. The session is persistent
(``clean_start=False`` with a session expiry), so a worker killed between
receive and commit gets the same messages again when it comes back with the
same client id; the unique ``event_id`` makes that redelivery harmless.
Several workers with different client ids share the load through the
``$share/<group>/...`` subscriptions.

After each committed batch the worker publishes receipts (docs/contract.md,
"Receipts"): for every device with events or visit summaries in the batch, one
QoS 1 message on ``exteros/v1/{device}/acks`` naming the ids now settled
(stored, already stored, or dead-lettered). The edge keeps each row until a
receipt names it, because a broker's PUBACK is no proof of storage (a shared
subscription whose worker was away, or a SIGKILLed broker, loses messages the
broker acknowledged). Receipts are computed from the batch itself: every
message of a batch that ``Ingestor.process`` returned for is settled.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from central.config import IngestSettings
from central.store import Ingestor, Message
from exteros.contract import split_topic, topic

log = logging.getLogger(__name__)
TOPIC_KINDS = ("events", "visits", "heartbeat", "status")
RECEIPT_SCHEMA = "exteros.receipt/1"
# Ids per receipt message: keeps one receipt well under any broker's size limit.
MAX_RECEIPT_IDS = 1000
_ID_FIELD = {"events": "event_id", "visits": "visit_id"}


@dataclass
class MqttOptions:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive: int = 30


def sd_notify(state: str) -> None:
    """systemd notify protocol: one datagram to $NOTIFY_SOCKET (no-op outside systemd)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(state.encode(), addr)
    except OSError:
        pass


def subscriptions(group: str) -> list[str]:
    return [f"$share/{group}/exteros/v1/+/{kind}" for kind in TOPIC_KINDS]


def _settled_id(kind: str, payload: bytes) -> str | None:
    """Best-effort id of a message (``event_id`` / ``visit_id``); None if it has none."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    value = data.get(_ID_FIELD[kind]) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def receipts(messages: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """(topic, payload) receipts for a committed batch of (topic, payload) messages.

    One receipt per device (more when it names over :data:`MAX_RECEIPT_IDS` ids),
    on that device's own acks topic, listing each settled event and visit id once.
    """
    by_device: dict[str, dict[str, dict[str, None]]] = {}
    for topic_, payload in messages:
        try:
            device, kind = split_topic(topic_)
        except ValueError:
            continue
        if kind not in _ID_FIELD or not device:
            continue
        ident = _settled_id(kind, payload)
        if ident is None:
            continue
        kinds = by_device.setdefault(device, {"events": {}, "visits": {}})
        kinds[kind][ident] = None  # a dict keeps first-seen order without duplicates
    out: list[tuple[str, bytes]] = []
    for device, kinds in by_device.items():
        items = [(k, i) for k in ("events", "visits") for i in kinds[k]]
        for start in range(0, len(items), MAX_RECEIPT_IDS):
            chunk = items[start : start + MAX_RECEIPT_IDS]
            body = {
                "schema": RECEIPT_SCHEMA,
                "events": [i for k, i in chunk if k == "events"],
                "visits": [i for k, i in chunk if k == "visits"],
            }
            out.append((topic(device, "acks"), json.dumps(body, separators=(",", ":")).encode()))
    return out


class IngestWorker:
    def __init__(
        self,
        engine: Engine,
        mqtt_options: MqttOptions,
        settings: IngestSettings | None = None,
    ) -> None:
        self.settings = settings or IngestSettings()
        self.opts = mqtt_options
        self.ingestor = Ingestor(engine)
        self.stop_event = threading.Event()
        self.connected = threading.Event()
        self.stats = {"events": 0, "visits": 0, "heartbeats": 0, "statuses": 0, "dead": 0}
        # Unbounded on purpose: the broker never has more than receive_maximum QoS 1
        # messages unacknowledged with us, and heartbeats (QoS 0) are small and rare.
        self._queue: queue.Queue = queue.Queue()
        # Bumped on every CONNACK. A message received on an earlier connection is not
        # acknowledged on a later one: the broker resends it there (same packet id,
        # DUP) and may already have reused the id, so a late PUBACK could acknowledge
        # a different message that is not stored yet. The resent copy is acked instead
        # (and ignored by the unique event_id).
        self._epoch = 0
        client_id = mqtt_options.client_id or f"exteros-ingest-{socket.gethostname()}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        if mqtt_options.username:
            self.client.username_pw_set(mqtt_options.username, mqtt_options.password)
        if mqtt_options.tls:
            self.client.tls_set(ca_certs=mqtt_options.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_connect_fail = self._on_connect_fail
        self._last_fail_log = 0.0

    # paho callbacks: enqueue or log only.
    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        client.subscribe([(t, SubscribeOptions(qos=1)) for t in subscriptions(self.settings.group)])
        self._epoch += 1
        self.connected.set()
        log.info("connected to %s:%s", self.opts.host, self.opts.port)

    def _on_disconnect(
        self,
        _c: mqtt.Client,
        _u: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _props: Properties | None,
    ) -> None:
        self.connected.clear()
        if not self.stop_event.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", reason_code)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        now = time.monotonic()
        if now - self._last_fail_log > 30:  # say it, but not on every retry
            self._last_fail_log = now
            log.warning(
                "cannot connect to the broker at %s:%s; retrying", self.opts.host, self.opts.port
            )

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        self._queue.put((msg.topic, msg.payload, msg.mid, msg.qos, self._epoch))

    def _connect(self) -> None:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: no hints
        props.SessionExpiryInterval = self.settings.session_expiry_s
        props.ReceiveMaximum = self.settings.receive_maximum
        self.client.connect_async(
            self.opts.host,
            self.opts.port,
            keepalive=self.opts.keepalive,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def _next_batch(self) -> list:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(batch) < self.settings.batch_size:
            left = deadline - time.monotonic()
            try:
                batch.append(
                    self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _commit(self, batch: list) -> bool:
        """Store a batch, retrying while the database is down; True once committed."""
        delay = 0.5
        while True:
            try:
                result = self.ingestor.process(Message(m[0], m[1]) for m in batch)
            except (OperationalError, InterfaceError) as exc:
                if self.stop_event.is_set():
                    return False
                log.error("database unavailable (%s); retrying in %.1f s", exc, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 30)
                continue
            for k in self.stats:
                self.stats[k] += getattr(result, k)
            for reason in result.reasons[:3]:
                log.warning("dead-lettered: %s", reason)
            return True

    def _send_receipts(self, batch: list) -> None:
        for topic_, payload in receipts((m[0], m[1]) for m in batch):
            # Queued by paho while the broker is away and sent after the reconnect; a
            # receipt that is lost anyway only makes the edge send the rows again.
            self.client.publish(topic_, payload, qos=1)

    def run(self) -> None:
        self._connect()
        sd_notify("READY=1")
        last_report = time.monotonic()
        try:
            while not self.stop_event.is_set():
                batch = self._next_batch()
                if batch and self._commit(batch):
                    # Receipts first: once committed, every message of the batch is settled.
                    self._send_receipts(batch)
                    epoch = self._epoch
                    for _t, _p, mid, qos, received_on in batch:
                        if qos > 0 and received_on == epoch:
                            self.client.ack(mid, qos)
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    log.info("ingested so far: %s", self.stats)
                    sd_notify(f"STATUS=events {self.stats['events']} dead {self.stats['dead']}")
        finally:
            sd_notify("STOPPING=1")
            log.info("stopping; ingested: %s", self.stats)
            # Messages still queued stay unacknowledged: the broker keeps them in our session.
            self.client.disconnect()
            self.client.loop_stop()

    def stop(self) -> None:
        self.stop_event.set()
