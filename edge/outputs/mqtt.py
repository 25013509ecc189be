"""MQTT output: frame loop -> durable outbox -> publisher thread -> broker (QoS 1).

Three threads, and a queue between each: ``emit`` (frame loop) serialises the
payload, appends it to an in-memory hand-over queue and wakes the *writer*; it
never waits for the disk or the broker. The writer commits everything emitted
since its last pass to the SQLite outbox (:mod:`edge.outbox`) in one
transaction, together with the deletes of acknowledged rows (group commit: one
fsync for many events), and then wakes the *publisher*, which publishes only
committed rows. A message is therefore always on disk before it is on the
wire; what a crash can lose is only what was emitted in the last few
milliseconds and not yet committed (``sync()`` waits for that). The publisher
reads rows on its own connection, so it keeps the broker busy while the writer
waits for an fsync.

The publisher sends rows in ``seq`` order with a bounded in-flight window and
a token bucket (``outbox.drain_rate``) so a large backlog after an outage
reaches the broker at a bounded rate, and deletes a row only when its PUBACK
arrives.

paho callbacks run on paho's network thread while paho holds its own locks, so
they only assign a flag or put a tuple on a ``SimpleQueue``; every decision is
taken on the publisher thread. Because the same thread calls ``publish()`` and
then processes the ack queue, a PUBACK that arrives before ``publish()`` returns
is simply queued and matched to its row afterwards.

paho keeps unacknowledged QoS 1 messages in memory and resends them after a
reconnect (with DUP), so within one process a row is handed to paho once; after
a restart everything still in the outbox is sent again (at least once: the
central store ignores an ``event_id`` it already has).

Status: retained ``online`` on every (re)connect and a retained ``offline`` will
(plus an explicit ``offline`` on a clean close). Heartbeats are QoS 0 and are not
stored: a heartbeat is only worth something now, so one is skipped while the
broker is away.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import json
import logging
import os
import queue
import socket
import sqlite3
import ssl
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from edge.config import EdgeConfig
from edge.outbox import Outbox, outbox_path, read_status
from edge.outputs import Message
from exteros.contract import DeviceStatus, Heartbeat, format_ts, now_utc, payload_for, topic

log = logging.getLogger(__name__)

LOCK_FILENAME = "outbox.lock"
ERROR_LOG_INTERVAL_S = 60.0
# PUBACK reason codes worth retrying (quota exceeded, packet id in use); any
# other failure code is permanent (e.g. 0x87 not authorized by the ACL).
_RETRYABLE_PUBACK = {0x91, 0x97}

# Emitted messages waiting for their commit: beyond this the disk has stalled.
MAX_PENDING = 100_000
COMMIT_BATCH = 5_000

_ACK, _CONNECTED, _DISCONNECTED, _CONNECT_FAIL, _WAKE, _HEARTBEAT, _STOP = range(7)
_WAKE_ITEM = (_WAKE,)


class MqttSetupError(RuntimeError):
    """The MQTT output cannot start (bad TLS files, outbox in use)."""


class OutboxBusyError(MqttSetupError):
    """Another process (or output) already publishes from this outbox."""


def _compact(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def describe_connect_error(exc: BaseException | None, cfg: EdgeConfig) -> str:
    """One clear line about why the broker could not be reached."""
    mq = cfg.mqtt
    where = f"{mq.host}:{mq.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca = mq.tls.ca_file if mq.tls else None
        return (
            f"TLS failure connecting to {where}: certificate verify failed "
            f"({exc.verify_message}); check that mqtt.tls.ca_file ({ca}) holds the CA that "
            f"signed the broker's certificate and that the certificate names host {mq.host!r}"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure connecting to {where}: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"broker {where} refused the TCP connection (not running or wrong port?)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"connecting to broker {where} timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve broker host {mq.host!r}: {exc}"
    if isinstance(exc, str):
        return exc
    if exc is None:
        return f"cannot connect to broker {where}"
    return f"cannot connect to broker {where}: {exc}"


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
        state_dir = Path(cfg.state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd = _lock_outbox(state_dir)
        try:
            self._outbox = Outbox(
                outbox_path(state_dir),
                max_rows=cfg.outbox.max_rows,
                max_bytes=cfg.outbox.max_bytes,
            )
            self._client = self._make_client(client_id or f"exteros-edge-{cfg.device_id}")
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._q: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        # Emitted, not yet committed (frame loop appends, writer pops) and acked,
        # not yet deleted (publisher appends, writer pops).
        self._pending: collections.deque[tuple[str, bytes, float]] = collections.deque()
        self._acked_seqs: collections.deque[int] = collections.deque()
        self._writer_wake = threading.Event()
        self._emit_lock = threading.Lock()
        self._writer_stop = False
        self._emitted = 0  # written under _emit_lock only
        self._committed = 0  # written by the writer only
        self._mem_dropped = 0
        self._mem_dropped_saved = 0
        self._connected = False
        self._closed = False
        self._close_result: bool | None = None
        self.last_error: str | None = None
        self._last_error_logged = 0.0
        self._was_connected = False
        # Publisher-thread state.
        self._window_cfg = cfg.outbox.max_inflight
        self._window = self._window_cfg
        self._rate = cfg.outbox.drain_rate
        self._tokens = float(self._window)
        self._tokens_at = time.monotonic()
        self._inflight: dict[int, tuple[int, float]] = {}  # mid -> (seq, created_at)
        self._cursor = 0  # highest seq handed to paho
        # Set once the publisher has seen CONNACK (and the broker's Receive Maximum):
        # publishing on the callback's flag alone could overrun that limit.
        self._ready = False
        self._pause_until = 0.0
        # No PUBACK for this long on a live connection: send the in-flight rows again
        # rather than let a lost ack hold the window (and all delivery) forever.
        self._stall_s = 2.0 * cfg.mqtt.keepalive_s
        self._last_progress = time.monotonic()
        self.delivered = 0
        self.rejected = 0
        self.ack_latencies: collections.deque[float] = collections.deque(maxlen=200_000)

        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="outbox-writer", daemon=True)
        mq = cfg.mqtt
        self._client.connect_async(mq.host, mq.port, keepalive=mq.keepalive_s, clean_start=True)
        self._client.loop_start()
        self._writer.start()
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
        return client

    def _status_payload(self, state: str) -> bytes:
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
        data = _compact(payload)
        with self._emit_lock:  # in case several camera threads emit
            if len(self._pending) >= MAX_PENDING:
                # The disk has stopped taking writes: never block or grow without bound.
                self._mem_dropped += 1
                if self._mem_dropped == 1 or self._mem_dropped % 1000 == 0:
                    log.warning(
                        "outbox writes are %d messages behind; dropped %d message(s)",
                        len(self._pending),
                        self._mem_dropped,
                    )
                return
            # Count first: depth() must never miss a message between hand-over and commit.
            self._emitted += 1
            self._pending.append((topic(self.device_id, kind), data, time.time()))
        self._writer_wake.set()

    def sync(self, timeout_s: float | None = 10.0) -> bool:
        """Wait until every message emitted so far is committed to the outbox."""
        target = self._emitted
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._committed < target:
            if not self._writer.is_alive():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def heartbeat(self, hb: Heartbeat) -> None:
        """Publish a heartbeat (QoS 0) with this outbox's depth and drop count filled in."""
        if not self._closed:
            self._q.put((_HEARTBEAT, hb))

    def depth(self) -> int:
        """Messages not yet acknowledged by the broker (committed or about to be)."""
        # emitted - committed also covers the batch the writer is committing now.
        return self._outbox.depth() + max(0, self._emitted - self._committed)

    @property
    def dropped(self) -> int:
        """Messages dropped (outbox full, refused by the broker) since the outbox was created."""
        return self._outbox.dropped + self._mem_dropped - self._mem_dropped_saved

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def outbox(self) -> Outbox:
        return self._outbox

    def wait_drained(self, timeout_s: float | None) -> bool:
        """Wait until every row is acknowledged (True) or the timeout passes (False)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.depth() > 0:
            if not (self._thread.is_alive() and self._writer.is_alive()):
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, drain_timeout_s: float | None = None) -> bool:
        """Wait for the outbox to drain, then disconnect; True when nothing is left.

        ``drain_timeout_s=None`` waits until drained, ``0`` does not wait. Rows that
        are not acknowledged stay in the outbox for the next start or ``flush``.
        """
        if self._close_result is not None:
            return self._close_result
        try:
            drained = self.wait_drained(drain_timeout_s)
        finally:
            self._closed = True
            self._q.put((_STOP,))
            self._thread.join(15)
            self._writer_stop = True
            self._writer_wake.set()
            self._writer.join(15)
            self._client.loop_stop()
            left = self.depth()
            self._outbox.close()
            os.close(self._lock_fd)
        drained = drained and left == 0
        if not drained:
            log.warning(
                "closing with %d undelivered message(s) kept in %s; they are sent on the "
                "next start or by `exteros-edge flush`",
                left,
                self._outbox.path,
            )
        self._close_result = drained
        return drained

    # -- paho callbacks (paho's thread: no locks, no I/O, only the queue) --------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            self._q.put((_CONNECT_FAIL, f"broker refused the connection: {reason_code}"))
            return
        self._connected = True
        receive_max = getattr(properties, "ReceiveMaximum", None) if properties else None
        self._q.put((_CONNECTED, receive_max))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self._connected = False
        self._q.put((_DISCONNECTED, str(reason_code)))

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # noqa: ANN001
        code = reason_code.value if isinstance(reason_code, ReasonCode) else 0
        self._q.put((_ACK, mid, code, str(reason_code)))

    def _on_connect_fail(self, client, userdata) -> None:  # noqa: ANN001
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
                acked: list[int] = []
                stop = False
                while item is not None:
                    stop = self._handle(item, acked) or stop
                    try:
                        item = self._q.get_nowait()
                    except queue.Empty:
                        item = None
                if acked:
                    # The writer deletes them with its next commit.
                    self._acked_seqs.extend(acked)
                    self._writer_wake.set()
                if stop:
                    break
                self._check_stall()
                self._publish_some()
        except Exception:
            log.exception("MQTT publisher thread failed; undelivered rows stay in the outbox")
        finally:
            self._shutdown()

    def _handle(self, item: tuple[Any, ...], acked: list[int]) -> bool:
        kind = item[0]
        if kind == _ACK:
            _, mid, code, text = item
            entry = self._inflight.pop(mid, None)
            if entry is None:
                return False  # status, heartbeat (QoS 0) or a row already handled
            seq, created_at = entry
            if code >= 0x80:
                if code in _RETRYABLE_PUBACK:
                    log.warning("broker deferred message %d (%s); retrying", seq, text)
                    self._cursor = min(self._cursor, seq - 1)
                    self._pause_until = time.monotonic() + 1.0
                    return False
                self.rejected += 1
                self._outbox.count_dropped(1)
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
            else:
                self.delivered += 1
                self.ack_latencies.append(time.time() - created_at)
            self._last_progress = time.monotonic()
            acked.append(seq)
        elif kind == _CONNECTED:
            receive_max = item[1]
            self._window = min(self._window_cfg, receive_max or self._window_cfg)
            self._ready = True
            self._last_progress = time.monotonic()
            self.last_error = None
            log.info(
                "connected to MQTT broker %s:%d; %d message(s) waiting in the outbox",
                self.cfg.mqtt.host,
                self.cfg.mqtt.port,
                self._outbox.depth(),
            )
            self._was_connected = True
            if self._announce:
                self._client.publish(
                    self._status_topic, self._status_payload("online"), qos=1, retain=True
                )
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

    # -- writer thread -----------------------------------------------------------

    def _write_loop(self) -> None:
        """Commit emitted messages and delete acked rows, one transaction per pass."""
        while True:
            self._writer_wake.wait(0.5)
            self._writer_wake.clear()
            stopping = self._writer_stop
            try:
                self._commit()
            except Exception:
                log.exception("outbox writer failed; retrying")
                time.sleep(1.0)
            if stopping:
                return

    def _commit(self) -> None:
        if self._mem_dropped > self._mem_dropped_saved:
            delta = self._mem_dropped - self._mem_dropped_saved
            self._outbox.count_dropped(delta)
            self._mem_dropped_saved += delta
        while self._pending or self._acked_seqs:
            batch: list[tuple[str, bytes, float]] = []
            while self._pending and len(batch) < COMMIT_BATCH:
                batch.append(self._pending.popleft())
            acked: list[int] = []
            while self._acked_seqs and len(acked) < 4 * COMMIT_BATCH:
                acked.append(self._acked_seqs.popleft())
            try:
                self._outbox.write(batch, acked)
            except sqlite3.Error:
                # Keep both in memory and retry. Nothing is published before its
                # commit, so a stuck disk delays events but never loses one.
                self._pending.extendleft(reversed(batch))
                self._acked_seqs.extendleft(reversed(acked))
                log.exception("cannot write to the outbox %s; retrying", self._outbox.path)
                time.sleep(1.0)
                return
            self._committed += len(batch)
            if batch:
                self._q.put(_WAKE_ITEM)  # new rows for the publisher

    def _check_stall(self) -> None:
        if not (self._ready and self._inflight):
            self._last_progress = time.monotonic()
            return
        if time.monotonic() - self._last_progress < self._stall_s:
            return
        seqs = sorted(seq for seq, _ in self._inflight.values())
        log.warning(
            "no PUBACK for %.0f s with %d message(s) in flight; sending them again",
            self._stall_s,
            len(seqs),
        )
        self._inflight.clear()
        self._cursor = min(self._cursor, seqs[0] - 1)
        self._last_progress = time.monotonic()

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self._window), self._tokens + (now - self._tokens_at) * self._rate)
        self._tokens_at = now

    def _waiting_rows(self) -> bool:
        return self._outbox.depth() > len(self._inflight)

    def _next_wait(self) -> float:
        now = time.monotonic()
        if now < self._pause_until:
            return self._pause_until - now
        if not self._ready or not self._waiting_rows():
            return 0.5
        if len(self._inflight) >= self._window:
            return 0.5  # an ack wakes us
        self._refill(now)
        if self._tokens < 1:
            return (1 - self._tokens) / self._rate
        return 0.05

    def _publish_some(self) -> None:
        if not (self._ready and self._connected):
            return
        now = time.monotonic()
        if now < self._pause_until:
            return
        free = self._window - len(self._inflight)
        if free <= 0:
            return
        self._refill(now)
        n = min(free, int(self._tokens))
        if n <= 0:
            return
        for row in self._outbox.pending(self._cursor, n):
            info = self._client.publish(row.topic, row.payload, qos=1)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                log.warning("publish of message %d failed (%s); retrying", row.seq, info.rc)
                self._pause_until = time.monotonic() + 0.5
                return
            old = self._inflight.get(info.mid)
            if old is not None:
                # A mid reused while we still wait for its ack: send the old row again.
                self._cursor = min(row.seq, old[0]) - 1
            self._inflight[info.mid] = (row.seq, row.created_at)
            self._cursor = max(self._cursor, row.seq)
            self._tokens -= 1

    def _shutdown(self) -> None:
        try:
            if self._announce and self._connected:
                info = self._client.publish(
                    self._status_topic, self._status_payload("offline"), qos=1, retain=True
                )
                deadline = time.monotonic() + 2.0
                acked: list[int] = []
                while time.monotonic() < deadline:
                    try:
                        item = self._q.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if item[0] == _ACK and item[1] == info.mid:
                        break
                    if item[0] == _ACK:
                        self._handle(item, acked)
                self._acked_seqs.extend(acked)
            self._client.disconnect()
        except Exception:
            log.exception("error while disconnecting from the MQTT broker")


def _lock_outbox(state_dir: Path) -> int:
    path = state_dir / LOCK_FILENAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise OutboxBusyError(
                f"the outbox in {state_dir} is in use by another exteros-edge process "
                "(the running edge service delivers it; stop it first)"
            ) from None
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


# -- CLI commands (wired into exteros-edge by edge/cli.py) -----------------------


def flush_command(cfg: EdgeConfig, timeout_s: float) -> int:
    """Deliver what is in the outbox; 0 when empty, 1 on timeout (rows kept), 2 if unusable."""
    path = outbox_path(cfg.state_dir)
    if not path.exists():
        print(f"flush: nothing to deliver (no outbox at {path})")
        return 0
    if not cfg.mqtt.enabled:
        print("flush: mqtt.enabled is false in the config; nothing to deliver to", file=sys.stderr)
        return 2
    try:
        out = MqttOutput(
            cfg,
            version="flush",
            announce=False,
            client_id=f"exteros-edge-{cfg.device_id}-flush",
        )
    except MqttSetupError as exc:
        print(f"flush: {exc}", file=sys.stderr)
        return 2
    start = out.depth()
    ok = out.close(drain_timeout_s=timeout_s)
    if ok:
        print(f"flush: delivered {out.delivered} message(s) of {start}; outbox empty")
        return 0
    why = out.last_error or (
        "the broker did not acknowledge in time"
        if out.connected or out.delivered
        else f"could not connect to {cfg.mqtt.host}:{cfg.mqtt.port}"
    )
    print(
        f"flush: timed out after {timeout_s:g} s: {out.depth()} message(s) kept in {path} "
        f"({out.delivered} delivered); {why}",
        file=sys.stderr,
    )
    return 1


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def status_command(cfg: EdgeConfig) -> int:
    """Print outbox depth, dropped count and the oldest undelivered event time."""
    path = outbox_path(cfg.state_dir)
    st = read_status(path)
    print(f"outbox:  {path}" + ("" if st.exists else " (not created yet)"))
    print(f"depth:   {st.depth} undelivered message(s), {st.size_bytes / 1024:.1f} KiB")
    print(f"dropped: {st.dropped} (since the outbox was created)")
    if st.oldest_created is None:
        print("oldest:  none, everything was delivered")
    else:
        committed = datetime.fromtimestamp(st.oldest_created, UTC)
        line = (
            f"oldest:  queued {format_ts(committed)} ({_age(time.time() - st.oldest_created)} ago)"
        )
        if st.oldest_event_at:
            line += f", event time {st.oldest_event_at}"
        print(line)
    return 0
