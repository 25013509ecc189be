"""Device health from heartbeats and status, ingested the real way, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from central.admin import add_device, add_location
from central.devices import ONLINE_WITHIN_MS, STALL_AFTER_MS, device_health
from central.models import Company, Device, HeartbeatRow
from central.store import Ingestor, Message, dump_json
from central.timeutil import from_ms, now_ms
from exteros.contract import topic
from tests.central.test_cli import ok
from tests.support.central import Central, publish_all, wait_for

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DEV = "edge-madison-01"
RIVAL = "edge-rival"


def iso(ms: int) -> str:
    return from_ms(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def heartbeat(at: int, cameras: dict | None = None, depth: int = 0, version: str = "0.2.0") -> dict:
    return {
        "at": iso(at),
        "uptime_s": 60.0,
        "locations": ["madison-ave-store"],
        "cameras": cameras if cameras is not None else {},
        "outbox_depth": depth,
        "outbox_dropped": 0,
        "version": version,
    }


def status(state: str, at: int, version: str = "0.1.0") -> dict:
    return {"state": state, "at": iso(at), "version": version}


def send(engine, received: int, *msgs: tuple[str, str, dict]) -> None:  # noqa: ANN001
    """Ingest (device, kind, payload) messages the store's way, received at ``received``."""
    res = Ingestor(engine, clock=lambda: received).process(
        Message(topic(dev, kind), dump_json(payload)) for dev, kind, payload in msgs
    )
    assert res.dead == 0, res.reasons


def company_id(engine, name: str) -> int:  # noqa: ANN001
    with engine.connect() as c:
        return c.execute(select(Company.id).where(Company.name == name)).scalar_one()


def health(engine, now: int, company: str = "acme") -> dict:  # noqa: ANN001
    with engine.connect() as c:
        return {
            d.device_id: d.model_dump(by_alias=True)
            for d in device_health(c, company_id(engine, company), now)
        }


def setup(engine) -> None:  # noqa: ANN001
    add_location(engine, "madison-ave-store", "acme", "America/New_York")
    add_location(engine, "rival-store", "rival", "UTC")
    add_device(engine, DEV, "acme")
    add_device(engine, "edge-spare", "acme")
    add_device(engine, RIVAL, "rival")


def test_health_json_from_the_last_heartbeat(engine):
    setup(engine)
    cams = {
        "cam-entrance": {"fps": 9.5, "connected": True, "last_frame_at": iso(T0 - 400)},
        "cam-back": {"fps": 0.0, "connected": False, "last_frame_at": iso(T0 - 5000)},
    }
    send(engine, T0 - 60_000, (DEV, "heartbeat", heartbeat(T0 - 60_000, depth=9)))
    send(engine, T0, (DEV, "status", status("online", T0 - 120_000)))
    send(engine, T0, (DEV, "heartbeat", heartbeat(T0, cams, depth=3)))
    # A late copy of an older heartbeat does not replace the newest.
    send(engine, T0 + 1000, (DEV, "heartbeat", heartbeat(T0 - 30_000, depth=7)))
    got = health(engine, T0 + 5000)
    assert got == {
        "edge-madison-01": {
            "device-id": "edge-madison-01",
            "online": True,
            "last-heartbeat": "2023-11-14T22:13:20Z",
            "version": "0.2.0",
            "outbox-depth": 3,
            "cameras": [
                {
                    "camera-id": "cam-back",
                    "fps": 0.0,
                    "connected": False,
                    "last-frame": "2023-11-14T22:13:15Z",
                    "stalled": True,
                },
                {
                    "camera-id": "cam-entrance",
                    "fps": 9.5,
                    "connected": True,
                    "last-frame": "2023-11-14T22:13:19Z",
                    "stalled": False,
                },
            ],
        },
        "edge-spare": {
            "device-id": "edge-spare",
            "online": False,
            "last-heartbeat": None,
            "version": None,
            "outbox-depth": None,
            "cameras": [],
        },
    }


def test_online_offline_transitions(engine):
    setup(engine)
    # The previous run's clean shutdown: a retained offline status.
    send(engine, T0, (DEV, "status", status("offline", T0 - 300_000)))
    assert not health(engine, T0)[DEV]["online"]
    # Heartbeats after it prove the device is back, even though no online status arrived.
    send(engine, T0, (DEV, "heartbeat", heartbeat(T0)))
    with engine.connect() as c:
        assert c.execute(select(Device.state).where(Device.id == DEV)).scalar_one() == "offline"
    assert health(engine, T0)[DEV]["online"]
    assert health(engine, T0 + ONLINE_WITHIN_MS)[DEV]["online"]  # 3 intervals of 60 s
    assert not health(engine, T0 + ONLINE_WITHIN_MS + 1)[DEV]["online"]  # silent: offline
    later = T0 + 600_000
    send(engine, later, (DEV, "heartbeat", heartbeat(later)))
    assert health(engine, later + 1000)[DEV]["online"]  # back
    # A clean shutdown (or the broker's will) after the last heartbeat: offline at once.
    send(engine, later + 2000, (DEV, "status", status("offline", later + 2000)))
    assert not health(engine, later + 3000)[DEV]["online"]
    assert health(engine, later + 3000)[DEV]["version"] == "0.2.0"  # from the heartbeat


def test_liveness_uses_the_receive_clock(engine):
    """A device clock 10 minutes behind still shows online while its heartbeats arrive."""
    setup(engine)
    send(engine, T0, (DEV, "heartbeat", heartbeat(T0 - 600_000)))
    got = health(engine, T0 + 1000)[DEV]
    assert got["online"] and got["last-heartbeat"] == iso(T0 - 600_000)[:19] + "Z"


def test_stalled_cameras(engine):
    setup(engine)
    cams = {
        "fresh": {"fps": 10.0, "connected": True, "last_frame_at": iso(T0 - STALL_AFTER_MS)},
        "frozen": {"fps": 0.0, "connected": True, "last_frame_at": iso(T0 - STALL_AFTER_MS - 1)},
        "unplugged": {"fps": 0.0, "connected": False, "last_frame_at": iso(T0 - 1000)},
        "no-frame-yet": {"fps": 0.0, "connected": True},
    }
    send(engine, T0, (DEV, "heartbeat", heartbeat(T0, cams)))
    stalled = {c["camera-id"]: c["stalled"] for c in health(engine, T0)[DEV]["cameras"]}
    assert stalled == {"fresh": False, "frozen": True, "unplugged": True, "no-frame-yet": True}
    no_frame = [c for c in health(engine, T0)[DEV]["cameras"] if c["camera-id"] == "no-frame-yet"]
    assert no_frame[0]["last-frame"] is None


def test_tenant_isolation(engine):
    setup(engine)
    send(engine, T0, (DEV, "heartbeat", heartbeat(T0, depth=1)))
    rival_hb = {**heartbeat(T0, depth=42), "locations": ["rival-store"]}
    send(engine, T0, (RIVAL, "heartbeat", rival_hb))
    assert set(health(engine, T0)) == {DEV, "edge-spare"}
    rival = health(engine, T0, "rival")
    assert set(rival) == {RIVAL} and rival[RIVAL]["outbox-depth"] == 42
    with engine.connect() as c:
        assert device_health(c, 999_999, T0) == []  # no such company: nothing


def test_devices_list_and_status_cli(db_url, engine):
    setup(engine)
    now = now_ms()
    cams = {
        "cam-entrance": {"fps": 12.0, "connected": True, "last_frame_at": iso(now - 500)},
        "cam-back": {"fps": 0.0, "connected": False, "last_frame_at": iso(now - 90_000)},
    }
    send(engine, now, (DEV, "status", status("offline", now - 600_000)))
    send(engine, now, (DEV, "heartbeat", heartbeat(now, cams, depth=5)))
    send(engine, now, (RIVAL, "heartbeat", {**heartbeat(now), "locations": ["rival-store"]}))
    listing = ok(db_url, "devices", "list").splitlines()
    assert f"{DEV}\tacme\tonline\t0.2.0\t{iso(now)[:19]}Z" in listing  # was "offline 0.1.0"
    assert "edge-spare\tacme\toffline\t-\t-" in listing
    assert ok(db_url, "devices", "list", "--company", "acme").count("\n") == 2

    out = ok(db_url, "devices", "status", "--company", "acme")
    lines = [ln.split() for ln in out.splitlines()]
    assert lines[0][:3] == ["device", "company", "state"]
    dev = next(ln for ln in lines if ln and ln[0] == DEV)
    assert dev[:6] == [DEV, "acme", "online", f"{iso(now)[:19]}Z", "0.2.0", "5"]
    assert dev[6:] == ["cam-back", "0.0", "no", f"{iso(now - 90_000)[:19]}Z", "STALLED"]
    entrance = next(ln for ln in lines if ln and ln[0] == "cam-entrance")
    assert entrance == ["cam-entrance", "12.0", "yes", f"{iso(now - 500)[:19]}Z"]
    spare = next(ln for ln in lines if ln and ln[0] == "edge-spare")
    assert spare == ["edge-spare", "acme", "OFFLINE", "never", "-", "-", "-", "-", "-", "-"]
    assert RIVAL not in out
    assert RIVAL in ok(db_url, "devices", "status")  # every company without --company


def test_unknown_company_is_one_line(db_url, engine):
    from tests.central.test_cli import cli, one_line_error

    one_line_error(cli(db_url, "devices", "status", "--company", "nope"), "unknown company 'nope'")


def _publish_retained(port: int, topic_: str, payload: dict) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dev-{time.monotonic_ns()}")
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        info = c.publish(topic_, json.dumps(payload).encode(), qos=1, retain=True)
        info.wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


def test_over_mqtt_a_heartbeating_device_is_online(db_url, mosq, tmp_path):
    """Through a real Mosquitto and ingest worker: the store's status column still says
    offline (the previous run's shutdown), the heartbeats say online."""
    central = Central(db_url, mosq.port, tmp_path / "central", devices=("dev-a",))
    try:
        central.start_thread_worker("ingest-health")
        now = now_ms()
        _publish_retained(mosq.port, topic("dev-a", "status"), status("offline", now - 60_000))
        hb = {**heartbeat(now, {"cam-1": {"fps": 5.0, "connected": True}}), "locations": ["loc-1"]}
        publish_all(mosq.port, [(topic("dev-a", "heartbeat"), json.dumps(hb).encode())], qos=0)

        def stored() -> bool:
            with central.engine.connect() as c:
                return c.execute(select(HeartbeatRow.id)).first() is not None

        wait_for(stored, 30, "the heartbeat in the store")
        with central.engine.connect() as c:
            assert c.execute(select(Device.state)).scalar_one() == "offline"
            cid = c.execute(select(Company.id)).scalar_one()
            (dev,) = device_health(c, cid)
        assert dev.online and dev.version == "0.2.0"
        assert [(c.camera_id, c.stalled) for c in dev.cameras] == [("cam-1", True)]  # no frame
        _publish_retained(mosq.port, topic("dev-a", "status"), status("offline", now + 1000))

        def offline() -> bool:
            with central.engine.connect() as c:
                return not device_health(c, cid, now + 2000)[0].online

        wait_for(offline, 30, "the offline status to take effect")
    finally:
        central.close()
