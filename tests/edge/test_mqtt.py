"""MqttOutput against a real Mosquitto and a real ingest worker: outages, crashes, caps.

A row leaves the outbox only when the central store's receipt names it, so
every test that expects an empty outbox runs a real ingest worker (in this
process, SQLite store) next to the broker. Subscribers use persistent sessions
(clean_session False) so a message published while they are cut off by a broker
restart still reaches them. Duplicates are allowed on the wire; losses are not,
and the store counts each event once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.cli import flush_command, status_command
from edge.config import EdgeConfig
from edge.outbox import outbox_path
from edge.outputs import Output
from edge.outputs.mqtt import MqttOutput, OutboxBusyError
from exteros.contract import CameraHealth, Heartbeat, VisitSummary
from tests.support.broker import Mosquitto
from tests.support.central import Central
from tests.support.mqtt import DEVICE, ROOT, T0, Collector, ev, ids, make_cfg, wait_until

# Offline persistent sessions keep everything (Mosquitto's default is 1000).
# Run as root (CI, containers) Mosquitto drops to user "mosquitto", which cannot write
# its persistence file or log in a root-owned tmp dir: stay as the current user.
BROKER_CONF = "max_queued_messages 0\n" + ("user root\n" if os.geteuid() == 0 else "")


def retained(port: int, topic_: str, timeout: float = 3.0, **auth: Any) -> dict[str, Any] | None:
    """The retained payload on a topic, read by a fresh clean subscriber."""
    got: list[dict[str, Any]] = []
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv311)
    if auth:
        c.username_pw_set(auth["username"], auth["password"])
    c.on_connect = lambda cl, *a: cl.subscribe(topic_, 1)
    c.on_message = lambda cl, u, m: got.append(json.loads(m.payload)) if m.retain else None
    c.connect("127.0.0.1", port)
    c.loop_start()
    wait_until(lambda: got, timeout)
    c.disconnect()
    c.loop_stop()
    return got[-1] if got else None


@pytest.fixture
def mosq(tmp_path):
    b = Mosquitto(tmp_path / "broker", extra_conf=BROKER_CONF)
    yield b
    b.stop(kill=True)


CONFIRM_S = "1.5"  # short receipt timeout: a broker restart loses shared-subscription messages


@pytest.fixture
def central(mosq, tmp_path, monkeypatch):
    """A real store (SQLite) for dev-a; call ``central.start_thread_worker()`` to ingest."""
    monkeypatch.setenv("EXTEROS_OUTBOX__CONFIRM_TIMEOUT_S", CONFIRM_S)
    c = Central(f"sqlite:///{tmp_path / 'central.db'}", mosq.port, tmp_path / "central")
    yield c
    c.close()


def stored_once(central: Central, want: set[str]) -> None:
    """Every wanted event is in the store, each exactly once."""
    assert central.wait_events(want, 20) == set()
    counts = central.event_counts()
    assert all(counts[i] == 1 for i in want)


def seed_session(broker: Mosquitto, client_id: str, **kw: Any) -> Collector:
    """Register a persistent subscription, then take the broker down again."""
    broker.start()
    sub = Collector(broker.port, client_id, **kw)
    sub.wait_subscribed()
    broker.stop()  # SIGTERM: Mosquitto saves the session
    return sub


def test_is_an_output_and_delivers_in_order(mosq, central, tmp_path):
    mosq.start()
    central.start_thread_worker()
    topics = ("exteros/v1/+/events", "exteros/v1/+/status", "exteros/v1/+/visits")
    sub = Collector(mosq.port, "sub-order", topics=topics)
    sub.wait_subscribed()
    out = MqttOutput(make_cfg(tmp_path, mosq.port), version="1.2.3")
    assert isinstance(out, Output)
    for i in range(200):
        out.emit(ev(i))
    visit = VisitSummary(
        visit_id="dev-a/cam-1/1",
        location="loc-1",
        device_id=DEVICE,
        camera_id="cam-1",
        started_at=T0,
        ended_at=T0 + timedelta(seconds=4),
        dwell_s=4.0,
        kinds=["impression"],
    )
    out.emit(visit)
    assert out.close(drain_timeout_s=20) is True
    assert sub.wait_ids(ids(200)) == set()
    assert wait_until(lambda: any(t == f"exteros/v1/{DEVICE}/visits" for t, _, _ in sub.messages))
    events = [p["event_id"] for _, p, _ in sub.messages if "event_id" in p]
    assert events == [ev(i).event_id for i in range(200)]  # one session, no outage: exact order
    states = [p["state"] for t, p, _ in sub.messages if t.endswith("/status")]
    assert states[0] == "online" and states[-1] == "offline"
    last = retained(mosq.port, f"exteros/v1/{DEVICE}/status")
    assert last is not None and last["state"] == "offline" and last["version"] == "1.2.3"
    assert out.depth() == 0 and out.kept == 0
    stored_once(central, ids(200))
    assert central.visit_ids() == {"dev-a/cam-1/1"}
    sub.close()


def test_broker_down_at_start_up_3s_later(mosq, central, tmp_path):
    sub = seed_session(mosq, "sub-late")
    central.start_thread_worker(wait=False)
    out = MqttOutput(make_cfg(tmp_path, mosq.port), version="t")
    n = 0
    t_end = time.monotonic() + 3.0
    while time.monotonic() < t_end:  # the frame loop keeps counting
        t = time.monotonic()
        out.emit(ev(n))
        # an emit that waited for the broker would wait the whole 3 s outage; 1 s leaves
        # room for a busy shared machine and still catches it
        assert time.monotonic() - t < 1.0
        n += 1
        time.sleep(0.1)
    assert n >= 10, f"only {n} emits in 3 s: emit waits for the broker"
    assert not out.connected
    assert out.depth() == n
    mosq.start()
    assert out.close(drain_timeout_s=20) is True
    assert sub.wait_ids(ids(n)) == set()
    stored_once(central, ids(n))
    sub.close()


def test_broker_stopped_mid_stream_and_restarted(mosq, central, tmp_path):
    mosq.start()
    central.start_thread_worker()
    sub = Collector(mosq.port, "sub-restart")
    sub.wait_subscribed()
    out = MqttOutput(make_cfg(tmp_path, mosq.port), version="t")
    assert wait_until(lambda: out.connected)
    n, worst = 600, 0.0
    for i in range(n):
        if i == 200:
            # A stop while messages are in flight. SIGTERM, because a SIGKILLed
            # Mosquitto also forgets what it acknowledged but had not saved yet
            # (it persists on shutdown and autosave only): a broker-side loss
            # the edge cannot see, and the restarted broker would not even know
            # the subscriber's session. The edge side of a kill is the same.
            mosq.stop()
        if i == 400:
            mosq.start()
        t = time.monotonic()
        out.emit(ev(i))
        worst = max(worst, time.monotonic() - t)
        time.sleep(0.004)
    # the broker comes back only when this loop reaches i == 400: an emit that waited for it
    # would never return; 1 s leaves room for scheduling hiccups on shared cores
    assert worst < 1.0, f"emit blocked the frame loop for {worst:.3f} s"
    assert out.close(drain_timeout_s=30) is True
    assert sub.wait_ids(ids(n)) == set()  # duplicates allowed, losses not
    stored_once(central, ids(n))
    sub.close()


def test_status_online_on_reconnect_and_will_on_crash(mosq, tmp_path):
    mosq.start()
    cfg = make_cfg(tmp_path, mosq.port)
    status_topic = f"exteros/v1/{DEVICE}/status"
    child = spawn_emitter(cfg, 0)

    def state() -> dict[str, Any]:
        return retained(mosq.port, status_topic) or {}

    try:
        assert wait_until(lambda: state().get("state") == "online")
        first = state()["at"]
        mosq.stop(kill=True)
        time.sleep(0.01)
        mosq.start()
        # Re-published after the reconnect, with a new time.
        assert wait_until(lambda: state().get("state") == "online" and state()["at"] != first)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert wait_until(
            lambda: (retained(mosq.port, status_topic) or {}).get("state") == "offline"
        ), "the will did not set offline"
    finally:
        child.kill()


EMITTER = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[3])
    from edge.config import EdgeConfig
    from edge.outputs.mqtt import MqttOutput
    from tests.support.mqtt import ev
    cfg = EdgeConfig(**json.loads(sys.argv[1]))
    out = MqttOutput(cfg, version="t")
    for i in range(int(sys.argv[2])):
        out.emit(ev(i))
    assert out.sync(10)
    print("committed", flush=True)
    time.sleep(120)
    """
)


def spawn_emitter(cfg: EdgeConfig, n: int) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", EMITTER, cfg.model_dump_json(), str(n), str(ROOT)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    line = child.stdout.readline()
    assert line.strip() == "committed", line
    return child


def test_sigkill_while_broker_down_then_flush(mosq, central, tmp_path, capsys):
    sub = seed_session(mosq, "sub-flush")
    central.start_thread_worker(wait=False)
    cfg = make_cfg(tmp_path, mosq.port)
    n = 300
    child = spawn_emitter(cfg, n)
    child.send_signal(signal.SIGKILL)
    child.wait(10)

    assert status_command(cfg) == 0
    out = capsys.readouterr().out
    assert f"depth:       {n} unconfirmed" in out
    assert f"unsent:      {n} not yet accepted" in out
    assert "unconfirmed: 0 published" in out
    assert "event time 2020-01-01T09:00:00.000Z" in out

    # Broker still down: flush times out, keeps the rows and says why.
    assert flush_command(cfg, timeout_s=1.0) == 1
    err = capsys.readouterr().err
    assert f"{n} message(s) kept" in err and "refused the TCP connection" in err

    mosq.start()
    assert flush_command(cfg, timeout_s=20) == 0
    assert "outbox empty" in capsys.readouterr().out
    assert sub.wait_ids(ids(n)) == set()
    stored_once(central, ids(n))
    assert status_command(cfg) == 0
    assert "depth:       0 unconfirmed" in capsys.readouterr().out
    sub.close()


def test_outbox_full_drops_oldest_and_reports_it(mosq, central, tmp_path, caplog):
    sub = seed_session(mosq, "sub-full", topics=("exteros/v1/+/events", "exteros/v1/+/heartbeat"))
    central.start_thread_worker(wait=False)
    cfg = make_cfg(tmp_path, mosq.port, outbox={"max_rows": 10})
    out = MqttOutput(cfg, version="t")
    with caplog.at_level(logging.WARNING):
        for i in range(25):
            out.emit(ev(i))
        assert out.sync()
    assert out.depth() == 10 and out.dropped == 15
    assert any("outbox full" in r.getMessage() for r in caplog.records)
    mosq.start()
    assert wait_until(lambda: out.connected)
    hb = Heartbeat(
        at=datetime.now(UTC),
        uptime_s=1.0,
        locations=["loc-1"],
        cameras={"cam-1": CameraHealth(fps=8.0, connected=True, last_frame_at=datetime.now(UTC))},
    )
    out.heartbeat(hb)
    assert out.close(drain_timeout_s=20) is True
    assert sub.wait_ids(ids(25, start=15)) == set()
    assert not (sub.event_ids() & ids(15))
    stored_once(central, ids(25, start=15))
    assert wait_until(lambda: any(t.endswith("/heartbeat") for t, _, _ in sub.messages))
    beat = next(p for t, p, _ in sub.messages if t.endswith("/heartbeat"))
    assert beat["outbox_dropped"] == 15
    assert beat["cameras"]["cam-1"]["fps"] == 8.0 and beat["version"] == "t"
    sub.close()


def test_ack_before_publish_returns(mosq, central, tmp_path):
    """paho may run on_publish before publish() returns: the row must still be matched."""
    mosq.start()
    central.start_thread_worker()
    sub = Collector(mosq.port, "sub-early")
    sub.wait_subscribed()
    out = MqttOutput(make_cfg(tmp_path, mosq.port), version="t")
    assert wait_until(lambda: out.connected)
    real_publish = out._client.publish
    early = []

    def publish_then_ack(topic, payload=None, qos=0, retain=False, properties=None):
        info = real_publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if qos == 1 and "/events" in topic and info.mid % 2 == 0:
            # Deliver the ack inside publish(), as paho's network thread can.
            out._on_publish(out._client, None, info.mid, ReasonCode(PacketTypes.PUBACK), None)
            early.append(info.mid)
        return info

    out._client.publish = publish_then_ack
    for i in range(100):
        out.emit(ev(i))
    assert out.close(drain_timeout_s=20) is True
    assert len(early) >= 40
    assert sub.wait_ids(ids(100)) == set()
    stored_once(central, ids(100))
    sub.close()


def test_drain_rate_bounds_the_backlog(mosq, central, tmp_path):
    sub = seed_session(mosq, "sub-rate")
    cfg = make_cfg(tmp_path, mosq.port, outbox={"drain_rate": 40.0, "max_inflight": 5})
    out = MqttOutput(cfg, version="t")
    for i in range(60):
        out.emit(ev(i))
    mosq.start()
    central.start_thread_worker()
    assert wait_until(lambda: out.connected)
    t = time.monotonic()
    assert out.wait_drained(20)
    took = time.monotonic() - t
    # 60 messages, a burst of 5, then 40/s: about 1.4 s.
    assert took >= 1.0, took
    assert out.close(5)
    assert sub.wait_ids(ids(60)) == set()
    sub.close()


def test_close_timeout_keeps_rows_and_second_user_is_refused(tmp_path):
    cfg = make_cfg(tmp_path, 1)  # nothing listens on port 1
    out = MqttOutput(cfg, version="t")
    for i in range(5):
        out.emit(ev(i))
    with pytest.raises(OutboxBusyError):
        MqttOutput(cfg, version="t")
    t = time.monotonic()
    assert out.close(drain_timeout_s=0.5) is False
    assert time.monotonic() - t < 8
    assert out.close() is False  # idempotent
    again = MqttOutput(cfg, version="t")  # the lock is released on close
    assert again.depth() == 5
    assert again.close(0) is False
    assert outbox_path(cfg.state_dir).exists()


def test_emit_never_waits_for_a_slow_disk(tmp_path):
    """A stalled fsync delays the commit, not the frame loop; sync() waits for it."""
    cfg = make_cfg(tmp_path, 1)
    out = MqttOutput(cfg, version="t")
    real_write = out.outbox.write
    stalls = [3.0]  # the first commit stalls 3 s, the others 0.5 s

    def slow_write(*args, **kwargs):
        time.sleep(stalls.pop() if stalls else 0.5)
        return real_write(*args, **kwargs)

    out.outbox.write = slow_write
    t = time.monotonic()
    for i in range(50):
        out.emit(ev(i))
    # an emit that waited for the disk would take 3 s at least
    assert time.monotonic() - t < 1.5
    assert out.depth() == 50  # counted while still in memory
    assert out.sync(20)
    assert out.outbox.depth() == 50
    assert out.close(0) is False


def test_lost_acks_do_not_stall_delivery(mosq, central, tmp_path, caplog):
    """Lost PUBACKs hold nothing up: the store's receipt confirms the rows anyway.

    (The PUBACK timeout that re-sends rows without one is tested on the pure
    window, tests/edge/test_receipts.py.)
    """
    mosq.start()
    central.start_thread_worker()
    sub = Collector(mosq.port, "sub-stall")
    sub.wait_subscribed()
    out = MqttOutput(make_cfg(tmp_path, mosq.port), version="t")
    out._window.puback_timeout_s = 0.5
    real_on_publish = out._on_publish
    lost = []

    def lose_first_acks(client, userdata, mid, reason_code, properties):
        if len(lost) < 10:
            lost.append(mid)
            return
        real_on_publish(client, userdata, mid, reason_code, properties)

    out._client.on_publish = lose_first_acks
    assert wait_until(lambda: out.connected)
    with caplog.at_level(logging.WARNING):
        for i in range(30):
            out.emit(ev(i))
        assert out.close(drain_timeout_s=15) is True
    assert len(lost) == 10
    assert sub.wait_ids(ids(30)) == set()
    stored_once(central, ids(30))
    sub.close()


def test_commands_without_an_outbox_and_while_in_use(tmp_path, capsys):
    cfg = make_cfg(tmp_path, 1)
    assert status_command(cfg) == 0
    assert "not created yet" in capsys.readouterr().out
    assert flush_command(cfg, timeout_s=0.5) == 0
    assert "nothing to deliver" in capsys.readouterr().out
    out = MqttOutput(cfg, version="t")
    try:
        assert flush_command(cfg, timeout_s=0.5) == 2
        assert "in use by another exteros-edge process" in capsys.readouterr().err
        assert status_command(cfg) == 0  # read-only: fine while the service runs
    finally:
        out.close(0)


def test_puback_is_not_enough_rows_wait_for_the_receipt(mosq, central, tmp_path, capsys):
    """No ingest worker: the broker takes everything, nothing is confirmed, nothing deleted."""
    mosq.start()
    cfg = make_cfg(tmp_path, mosq.port)
    out = MqttOutput(cfg, version="t")
    for i in range(40):
        out.emit(ev(i))
    assert wait_until(lambda: out.published == 40)
    assert out.unconfirmed() == 40 and out.unsent() == 0
    assert out.close(drain_timeout_s=0.5) is False
    assert out.kept == 40 and out.confirmed == 0
    assert status_command(cfg) == 0
    text = capsys.readouterr().out
    assert "unsent:      0 not yet" in text and "unconfirmed: 40 published" in text

    # flush without a worker times out and says why; with one it confirms all 40.
    assert flush_command(cfg, timeout_s=1.0) == 1
    assert "no receipt came from the central store" in capsys.readouterr().err
    central.start_thread_worker()
    assert flush_command(cfg, timeout_s=20) == 0
    assert "40 message(s) of 40 confirmed" in capsys.readouterr().out
    stored_once(central, ids(40))


def test_receipts_for_other_devices_or_garbage_confirm_nothing(mosq, tmp_path):
    mosq.start()
    out = MqttOutput(make_cfg(tmp_path, mosq.port), version="t")
    for i in range(5):
        out.emit(ev(i))
    assert wait_until(lambda: out.published == 5)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv311)
    c.connect("127.0.0.1", mosq.port)
    c.loop_start()
    forged = {"schema": "exteros.receipt/1", "events": sorted(ids(5)), "visits": []}
    for t, p in [
        ("exteros/v1/dev-b/acks", json.dumps(forged)),  # another device's acks topic
        (f"exteros/v1/{DEVICE}/acks", "not json"),
        (f"exteros/v1/{DEVICE}/acks", json.dumps({**forged, "schema": "other/1"})),
    ]:
        c.publish(t, p, qos=1).wait_for_publish(5)
    time.sleep(0.5)
    assert out.depth() == 5
    c.publish(f"exteros/v1/{DEVICE}/acks", json.dumps(forged), qos=1).wait_for_publish(5)
    assert wait_until(lambda: out.depth() == 0)
    c.disconnect()
    c.loop_stop()
    assert out.close(1) is True
