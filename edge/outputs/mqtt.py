"""MQTT output: frame loop -> durable outbox -> publisher -> broker -> store -> receipt.

Three threads, and a queue between each: ``emit`` (frame loop) serialises the
payload and hands it to the outbox writer (:mod:`edge.outputs.outbox_writer`),
which commits in groups and wakes the *publisher* (this module), which
publishes only committed rows. paho's network thread runs the callbacks.

A row leaves the outbox only when the central store confirms it: the ingest
worker publishes receipts on ``exteros/v1/{device}/acks`` after each commit
(docs/contract.md, "Receipts"), and this output subscribes to its own acks
topic on every connect. A PUBACK only marks the row published, unconfirmed:
Mosquitto acknowledges from memory, a SIGKILLed broker forgets what it had not
saved, and a shared subscription whose worker was away drops what arrived
meanwhile. The pure :class:`~edge.outputs.receipts.ReceiptWindow` decides what
to send again: every unconfirmed row after a reconnect, a row without receipt
``confirm_timeout_s`` after its PUBACK (doubling per attempt), a row without
PUBACK for ``2 x keepalive`` on a live connection. The store is idempotent, so a
resend costs a duplicate, never a double count.

The publisher sends new rows in ``seq`` order with a bounded window of
PUBACK-pending messages (``outbox.max_inflight``, and the broker's Receive
Maximum), at most :data:`MAX_UNCONFIRMED` rows waiting for a receipt, and a token
bucket (``outbox.drain_rate``) so a backlog after an outage reaches the broker
at a bounded rate.

paho callbacks run on paho's network thread while paho holds its own locks, so
they only assign a flag or put a tuple on a ``SimpleQueue``; every decision is
taken on the publisher thread. Because the same thread calls ``publish()`` and
then processes the queue, a PUBACK (or receipt) that arrives before
``publish()`` returns is matched to its row afterwards.

Status: retained ``online`` on every (re)connect and a retained ``offline`` will
(plus an explicit ``offline`` on a clean close). Heartbeats are QoS 0 and are not
stored: a heartbeat is only worth something now, so one is skipped while the
broker is away.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge import outbox as _outbox
from edge.config import EdgeConfig
from edge.outbox import (
    Outbox,
    OutboxError,
    Row,
    lock_state_dir,
    open_outbox,
    outbox_path,
)
from edge.outputs import Message
from edge.outputs.broker_errors import MqttSetupError, describe_connect_error
from edge.outputs.outbox_writer import OutboxWriter
from edge.outputs.receipts import ReceiptWindow, acks_topic, message_key, parse_receipt
from exteros.contract import DeviceStatus, Heartbeat, now_utc, payload_for, topic

__all__ = [
    "MAX_UNCONFIRMED",
    "MqttOutput",
    "MqttSetupError",
    "OutboxBusyError",
    "describe_connect_error",
]

log = logging.getLogger(__name__)

ERROR_LOG_INTERVAL_S = 60.0
# Rows published and waiting for a receipt: beyond this no new row is published.
MAX_UNCONFIRMED = 20_000
DUE_CHECK_S = 0.1
# PUBACK reason codes worth retrying (quota exceeded, packet id in use); any
# other failure code is permanent (e.g. 0x87 not authorized by the ACL).
_RETRYABLE_PUBACK = {0x91, 0x97}

_ACK, _CONNECTED, _DISCONNECTED, _CONNECT_FAIL, _WAKE, _HEARTBEAT, _STOP, _RECEIPT, _SUBACK = range(
    9
)
_WAKE_ITEM = (_WAKE,)


class OutboxBusyError(MqttSetupError):
    """Another process (or output) already publishes from this outbox."""


def _compact(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


class MqttOutput:
    """The Output seam over MQTT with a durable outbox; see the module docstring.

    ``announce=False`` (used by ``flush``) sends no status and sets no will, and
    ``client_id`` defaults to ``exteros-edge-<device_id>``.
    """

    def __init__(
        self,
        cfg: EdgeConfig,
        *,
        version: str,
        announce: bool = True,
        client_id: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.version = version
        self.device_id = cfg.device_id
        self._announce = announce
        self._status_topic = topic(cfg.device_id, "status")
        self._heartbeat_topic = topic(cfg.device_id, "heartbeat")
        self._acks_topic = acks_topic(cfg.device_id)
        state_dir = Path(cfg.state_dir)
        try:
            self._lock_fd = lock_state_dir(state_dir)
        except _outbox.OutboxBusyError as exc:
            raise OutboxBusyError(str(exc)) from None
        except OutboxError as exc:
            raise MqttSetupError(str(exc)) from None
        try:
            self._outbox = open_outbox(
                outbox_path(state_dir),
                max_rows=cfg.outbox.max_rows,
                max_bytes=cfg.outbox.max_bytes,
            )
        except OutboxError as exc:
            os.close(self._lock_fd)
            raise MqttSetupError(str(exc)) from None
        try:
            self._client = self._make_client(client_id or f"exteros-edge-{cfg.device_id}")
        except BaseException:
            self._outbox.close()
            os.close(self._lock_fd)
            raise
        self._q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._writer = OutboxWriter(self._outbox, on_commit=lambda: self._q.put(_WAKE_ITEM))
        self._connected = False
        self._closed = False
        self._close_result: bool | None = None
        self.last_error: str | None = None
        self._last_error_logged = 0.0
        self._was_connected = False
        # Publisher-thread state.
        self._window_cfg = cfg.outbox.max_inflight
        self._window_size = self._window_cfg
        self._rate = cfg.outbox.drain_rate
        self._tokens = float(self._window_size)
        self._tokens_at = time.monotonic()
        self.confirm_timeout_s = cfg.outbox.confirm_timeout_s
        self._window = ReceiptWindow(
            confirm_timeout_s=self.confirm_timeout_s,
            puback_timeout_s=2.0 * cfg.mqtt.keepalive_s,
        )
        self._created: dict[int, float] = {}  # seq -> created_at, for latency
        self._keyless: set[int] = set()  # rows no receipt can name: done at PUBACK
        self._cursor = 0  # highest seq handed to paho
        # Set once the publisher has seen CONNACK (and the broker's Receive Maximum):
        # publishing on the callback's flag alone could overrun that limit.
        self._ready = False
        self._pause_until = 0.0
        self._next_due = 0.0
        self.published = 0  # PUBACKs received
        self.confirmed = 0  # rows confirmed by a receipt
        self.resent = 0
        self.rejected = 0
        self.kept: int | None = None  # rows left on disk at close
        self.unstored = 0  # handed over but never stored (disk full), known at close
        self.ack_latencies: collections.deque[float] = collections.deque(maxlen=200_000)

        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        mq = cfg.mqtt
        self._client.connect_async(mq.host, mq.port, keepalive=mq.keepalive_s, clean_start=True)
        self._client.loop_start()
        self._thread.start()

    # -- setup -----------------------------------------------------------------

    def _make_client(self, client_id: str) -> mqtt.Client:
        mq = self.cfg.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(mq.username or self.cfg.device_id, mq.resolve_password())
        if mq.tls is not None:
            try:
                client.tls_set(
                    ca_certs=str(mq.tls.ca_file),
                    certfile=str(mq.tls.cert_file) if mq.tls.cert_file else None,
                    keyfile=str(mq.tls.key_file) if mq.tls.key_file else None,
                    cert_reqs=ssl.CERT_REQUIRED,
                )
            except (OSError, ssl.SSLError) as exc:
                raise MqttSetupError(
                    f"mqtt.tls: cannot load CA {mq.tls.ca_file} / client cert "
                    f"{mq.tls.cert_file} / key {mq.tls.key_file}: {exc}"
                ) from exc
        client.reconnect_delay_set(mq.reconnect_min_s, mq.reconnect_max_s)  # type: ignore[arg-type]
        client.max_inflight_messages_set(self.cfg.outbox.max_inflight)
        client.max_queued_messages_set(0)
        if self._announce:
            self._set_will(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _status_payload(self, state: Literal["online", "offline"]) -> bytes:
        return _compact(DeviceStatus(state=state, at=now_utc(), version=self.version).to_payload())

    def _set_will(self, client: mqtt.Client) -> None:
        client.will_set(self._status_topic, self._status_payload("offline"), qos=1, retain=True)

    # -- the Output seam (frame loop thread) -------------------------------------

    def emit(self, message: Message) -> None:
        """Hand the message over for commit and delivery; returns at once.

        Never waits for the disk or the broker: the writer thread commits everything
        emitted since its last commit in one transaction (group commit), and only
        committed rows are published. Call :meth:`sync` where the caller needs the
        message on disk before going on.
        """
        if self._closed:
            raise RuntimeError("MqttOutput is closed")
        kind, payload = payload_for(message)
        self._writer.put(topic(self.device_id, kind), _compact(payload), time.time())

    def sync(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until every message emitted so far is committed to the outbox."""
        return self._writer.sync(timeout_s)

    def heartbeat(self, hb: Heartbeat) -> None:
        """Publish a heartbeat (QoS 0) with this outbox's depth and drop count filled in."""
        if not self._closed:
            self._q.put((_HEARTBEAT, hb))

    def depth(self) -> int:
        """Messages not yet confirmed by the central store (committed or about to be)."""
        return self._outbox.depth() + self._writer.uncommitted()

    def unsent(self) -> int:
        """Messages not yet accepted by the broker (depth minus published, unconfirmed)."""
        return max(0, self.depth() - self._window.unconfirmed)

    def unconfirmed(self) -> int:
        """Published (PUBACKed) in this process, waiting for the store's receipt."""
        return self._window.unconfirmed

    @property
    def dropped(self) -> int:
        """Messages dropped (outbox full, refused by the broker) since the outbox was created."""
        w = self._writer
        return self._outbox.dropped + w.mem_dropped - w._mem_dropped_saved

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    @property
    def storage_error(self) -> str | None:
        """Why the outbox takes no writes right now (disk full, read-only), or None."""
        return self._writer.storage_error

    def wait_drained(self, timeout_s: float | None) -> bool:
        """Wait until every row is confirmed by the store (True) or the timeout passes."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.depth() > 0:
            if not (self._thread.is_alive() and self._writer.alive()):
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, drain_timeout_s: float | None = None) -> bool:
        """Wait until the store confirmed everything, then disconnect; True when nothing is left.

        ``drain_timeout_s=None`` waits until drained, ``0`` does not wait. Rows not
        confirmed stay in the outbox for the next start or ``flush``; :attr:`kept`
        is how many are really on disk, :attr:`unstored` how many never got there.
        """
        if self._close_result is not None:
            return self._close_result
        try:
            drained = self.wait_drained(drain_timeout_s)
        finally:
            self._closed = True
            self._q.put((_STOP,))
            self._thread.join(15)
            self._writer.stop()
            self._client.loop_stop()
            self.unstored = self._writer.unstored
            try:
                self.kept = self._outbox.count_on_disk()
            except Exception:  # noqa: BLE001 - a broken file: its row counter is all we know
                self.kept = self._outbox.depth()
            self._outbox.close()
            os.close(self._lock_fd)
        drained = drained and self.kept == 0 and self.unstored == 0
        if self.kept:
            log.warning(
                "closing with %d unconfirmed message(s) kept in %s; they are sent on the "
                "next start or by `exteros-edge flush`",
                self.kept,
                self._outbox.path,
            )
        if self.unstored:
            log.error(
                "%d message(s) could not be stored in the outbox %s (%s) and will not be delivered",
                self.unstored,
                self._outbox.path,
                self._writer.storage_error or "writer stopped",
            )
        self._close_result = drained
        return drained

    # -- paho callbacks (paho's thread: no locks, no I/O, only the queue) --------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._q.put((_CONNECT_FAIL, f"broker refused the connection: {reason_code}"))
            return
        # Subscribe before anything is published on this connection: the broker handles
        # the SUBSCRIBE first, so no receipt for this connection's messages is missed.
        client.subscribe([(self._acks_topic, SubscribeOptions(qos=1))])
        self._connected = True
        receive_max = getattr(properties, "ReceiveMaximum", None) if properties else None
        self._q.put((_CONNECTED, receive_max))

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        self._q.put((_SUBACK, [str(c) for c in reason_codes if c.is_failure]))

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self._acks_topic:
            self._q.put((_RECEIPT, msg.payload))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected = False
        self._q.put((_DISCONNECTED, str(reason_code)))

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        code = reason_code.value if isinstance(reason_code, ReasonCode) else 0
        self._q.put((_ACK, mid, code, str(reason_code)))

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho calls this inside its `except OSError:` block: the exception is current.
        self._q.put((_CONNECT_FAIL, sys.exc_info()[1]))

    # -- publisher thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                try:
                    item: tuple[Any, ...] | None = self._q.get(timeout=self._next_wait())
                except queue.Empty:
                    item = None
                marks: list[tuple[int, float]] = []
                stop = False
                while item is not None:
                    stop = self._handle(item, marks) or stop
                    try:
                        item = self._q.get_nowait()
                    except queue.Empty:
                        item = None
                if marks:
                    self._writer.mark_published(marks)
                if stop:
                    break
                self._check_due()
                self._publish_some()
        except Exception:
            log.exception("MQTT publisher thread failed; unconfirmed rows stay in the outbox")
        finally:
            self._shutdown()

    def _handle(self, item: tuple[Any, ...], marks: list[tuple[int, float]]) -> bool:
        kind = item[0]
        if kind == _ACK:
            self._handle_puback(item[1], item[2], item[3], marks)
        elif kind == _RECEIPT:
            self._handle_receipt(item[1])
        elif kind == _CONNECTED:
            receive_max = item[1]
            self._window_size = min(self._window_cfg, receive_max or self._window_cfg)
            self._ready = True
            self.last_error = None
            again = self._window.reconnected()
            log.info(
                "connected to MQTT broker %s:%d; %d message(s) waiting in the outbox%s",
                self.cfg.mqtt.host,
                self.cfg.mqtt.port,
                self._outbox.depth(),
                f", {again} published but unconfirmed are sent again" if again else "",
            )
            self._was_connected = True
            if self._announce:
                self._client.publish(
                    self._status_topic, self._status_payload("online"), qos=1, retain=True
                )
        elif kind == _SUBACK:
            failures = item[1]
            if failures:
                text = (
                    f"broker refused the subscription to {self._acks_topic} ({failures[0]}): "
                    "nothing can be confirmed; the ACL must let user "
                    f"{self.cfg.mqtt.username or self.device_id!r} read it"
                )
                log.error("%s", text)
                self.last_error = text
        elif kind == _DISCONNECTED:
            self._ready = False
            if self._was_connected:
                log.warning(
                    "lost the MQTT broker (%s); %d message(s) kept in the outbox, reconnecting",
                    item[1],
                    self._outbox.depth(),
                )
            self._was_connected = False
            if self._announce and not self._closed:
                self._set_will(self._client)
        elif kind == _CONNECT_FAIL:
            self._note_connect_error(item[1])
        elif kind == _HEARTBEAT:
            self._send_heartbeat(item[1])
        elif kind == _STOP:
            return True
        return False

    def _handle_puback(
        self, mid: int, code: int, text: str, marks: list[tuple[int, float]]
    ) -> None:
        if code >= 0x80 and code in _RETRYABLE_PUBACK:
            seq = self._window.puback(mid, "retry", time.monotonic())
            if seq is not None:
                log.warning("broker deferred message %d (%s); retrying", seq, text)
                self._pause_until = time.monotonic() + 1.0
            return
        result: Literal["refused", "ok"] = "refused" if code >= 0x80 else "ok"
        seq = self._window.puback(mid, result, time.monotonic())
        if seq is None:
            return  # status, heartbeat (QoS 0), or a row already confirmed or resent
        if result == "refused":
            self.rejected += 1
            self._created.pop(seq, None)
            self._keyless.discard(seq)
            self._outbox.count_dropped(1)
            self._writer.delete([seq])
            if self.rejected <= 10 or self.rejected % 1000 == 0:
                log.error(
                    "broker refused message %d (%s); dropped (%d so far). Does the ACL "
                    "let user %r write under exteros/v1/%s/?",
                    seq,
                    text,
                    self.rejected,
                    self.cfg.mqtt.username or self.device_id,
                    self.device_id,
                )
            return
        self.published += 1
        if seq in self._keyless:
            # No receipt can name it: the PUBACK is the best this row gets.
            self._keyless.discard(seq)
            self._window.done_without_receipt(seq)
            self._done([seq])
        else:
            marks.append((seq, time.time()))

    def _handle_receipt(self, payload: bytes) -> None:
        seqs = self._window.receipt(parse_receipt(payload))
        if seqs:
            self._done(seqs)

    def _done(self, seqs: list[int]) -> None:
        now = time.time()
        for seq in seqs:
            created = self._created.pop(seq, None)
            if created is not None:
                self.ack_latencies.append(now - created)
        self.confirmed += len(seqs)
        self._writer.delete(seqs)

    def _note_connect_error(self, exc: BaseException | str | None) -> None:
        text = describe_connect_error(exc, self.cfg)
        now = time.monotonic()
        if text != self.last_error or now - self._last_error_logged >= ERROR_LOG_INTERVAL_S:
            level = (
                logging.ERROR
                if "TLS failure" in text or "refused the connection" in text
                else logging.WARNING
            )
            log.log(level, "%s; %d message(s) kept in the outbox", text, self._outbox.depth())
            self._last_error_logged = now
        self.last_error = text

    def _send_heartbeat(self, hb: Heartbeat) -> None:
        if not self._connected:
            log.debug("heartbeat skipped: broker not connected")
            return
        hb = hb.model_copy(
            update={
                "outbox_depth": self._outbox.depth(),
                "outbox_dropped": self._outbox.dropped,
                "version": hb.version or self.version,
            }
        )
        self._client.publish(self._heartbeat_topic, _compact(hb.to_payload()), qos=0)

    def _check_due(self) -> None:
        now = time.monotonic()
        if now < self._next_due:
            return
        self._next_due = now + DUE_CHECK_S
        n = self._window.due(now, connected=self._ready)
        if n:
            log.warning(
                "%d message(s) not confirmed in time (no PUBACK within %g s, or no receipt "
                "from the central store within %g s); sending them again",
                n,
                self._window.puback_timeout_s,
                self.confirm_timeout_s,
            )

    def _refill(self, now: float) -> None:
        self._tokens = min(
            float(self._window_size), self._tokens + (now - self._tokens_at) * self._rate
        )
        self._tokens_at = now

    def _waiting_rows(self) -> bool:
        return self._window.pending_resends() > 0 or self._outbox.depth() > len(self._window)

    def _next_wait(self) -> float:
        now = time.monotonic()
        if now < self._pause_until:
            return self._pause_until - now
        if not self._ready or not self._waiting_rows():
            return DUE_CHECK_S if len(self._window) else 0.5
        if self._window.awaiting_puback >= self._window_size:
            return DUE_CHECK_S  # an ack wakes us
        self._refill(now)
        if self._tokens < 1:
            return min(DUE_CHECK_S, (1 - self._tokens) / self._rate)
        return 0.05 if len(self._window) < MAX_UNCONFIRMED else DUE_CHECK_S

    def _publish_some(self) -> None:
        if not (self._ready and self._connected):
            return
        now = time.monotonic()
        if now < self._pause_until:
            return
        free = self._window_size - self._window.awaiting_puback
        if free <= 0:
            return
        self._refill(now)
        n = min(free, int(self._tokens))
        if n <= 0:
            return
        resend = self._window.take_resends(n)
        if resend:
            rows = self._outbox.rows(resend)
            present = {r.seq for r in rows}
            for seq in resend:
                if seq not in present:  # trimmed (outbox full) or deleted meanwhile
                    self._window.done_without_receipt(seq)
                    self._created.pop(seq, None)
            for row in rows:
                if not self._publish_row(row, now):
                    return
                self.resent += 1
            n -= len(rows)
        room = MAX_UNCONFIRMED - len(self._window)
        n = min(n, room)
        if n <= 0:
            return
        for row in self._outbox.pending(self._cursor, n):
            if not self._publish_row(row, now):
                return
            self._cursor = max(self._cursor, row.seq)

    def _publish_row(self, row: Row, now: float) -> bool:
        info = self._client.publish(row.topic, row.payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            log.warning("publish of message %d failed (%s); retrying", row.seq, info.rc)
            self._pause_until = time.monotonic() + 0.5
            return False
        key = message_key(row.topic, row.payload)
        if key is None:
            self._keyless.add(row.seq)
        self._created.setdefault(row.seq, row.created_at)
        displaced = self._window.sent(row.seq, key, info.mid, now)
        if displaced is not None:
            log.debug("packet id %d reused while message %d waited; resending", info.mid,
                      displaced)  # fmt: skip
        self._tokens -= 1
        return True

    def _shutdown(self) -> None:
        try:
            if self._announce and self._connected:
                info = self._client.publish(
                    self._status_topic, self._status_payload("offline"), qos=1, retain=True
                )
                deadline = time.monotonic() + 2.0
                marks: list[tuple[int, float]] = []
                while time.monotonic() < deadline:
                    try:
                        item = self._q.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if item[0] == _ACK and item[1] == info.mid:
                        break
                    if item[0] in (_ACK, _RECEIPT):
                        self._handle(item, marks)
                self._writer.mark_published(marks)
            self._client.disconnect()
        except Exception:
            log.exception("error while disconnecting from the MQTT broker")
