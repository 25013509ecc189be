"""The deploy/mosquitto config for real: password file, ACL per device prefix, TLS.

The broker runs deploy/mosquitto/mosquitto.conf and acl with only paths and
ports rewritten; certificates come from a throwaway CA made with openssl.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.cli import flush_command
from edge.outputs.mqtt import MqttOutput
from tests.support.broker import free_port, wait_port
from tests.support.central import Central
from tests.support.mqtt import ROOT, Collector, ev, ids, make_cfg, wait_until

DEPLOY = ROOT / "deploy" / "mosquitto"
PASSWORDS = {"dev-a": "pw-a", "dev-b": "pw-b", "exteros-ingest": "pw-ingest"}

pytestmark = pytest.mark.skipif(
    not (shutil.which("openssl") and shutil.which("mosquitto_passwd")),
    reason="needs openssl and mosquitto_passwd",
)


def run(*args: str, cwd: Path) -> None:
    subprocess.run(args, cwd=cwd, check=True, capture_output=True)


def make_ca(d: Path, name: str) -> None:
    run(
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
        "-out", f"{name}.crt", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip


def make_leaf(d: Path, name: str, ca: str, ext: str) -> None:
    (d / f"{name}.ext").write_text(ext)
    run(
        "openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        cwd=d,
    )  # fmt: skip
    run(
        "openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt",
        "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2", "-out", f"{name}.crt",
        "-extfile", f"{name}.ext",
        cwd=d,
    )  # fmt: skip


class SecureBroker:
    def __init__(self, root: Path) -> None:
        self.etc = root / "etc"
        self.etc.mkdir(parents=True)
        (root / "data").mkdir()
        make_ca(self.etc, "ca")
        make_ca(self.etc, "wrong-ca")
        make_leaf(self.etc, "server", "ca", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        make_leaf(self.etc, "dev-a-client", "ca", "extendedKeyUsage=clientAuth\n")
        shutil.copy(self.etc / "ca.crt", self.etc / "ca-bundle.crt")
        passwd = self.etc / "passwd"
        for i, (user, pw) in enumerate(PASSWORDS.items()):
            run("mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwd), user, pw,
                cwd=root)  # fmt: skip
        shutil.copy(DEPLOY / "acl", self.etc / "acl")
        self.port, self.tls_port = free_port(), free_port()
        conf = (DEPLOY / "mosquitto.conf").read_text()
        conf = conf.replace("/etc/mosquitto/exteros/", f"{self.etc}/")
        conf = conf.replace("/var/lib/mosquitto/", f"{root / 'data'}/")
        conf = conf.replace("listener 1883 127.0.0.1", f"listener {self.port} 127.0.0.1")
        conf = conf.replace("listener 8883\n", f"listener {self.tls_port} 127.0.0.1\n")
        assert str(self.port) in conf and str(self.tls_port) in conf
        conf += f"log_dest file {root / 'mosquitto.log'}\n"
        if os.geteuid() == 0:
            conf += "user root\n"
        self.conf = root / "mosquitto.conf"
        self.conf.write_text(conf)
        self.log = root / "mosquitto.log"
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            wait_port(self.port)
            wait_port(self.tls_port)
        except TimeoutError:
            self.proc.kill()
            raise RuntimeError(self.proc.stderr.read().decode()) from None

    def password_file(self, tmp: Path, user: str) -> Path:
        p = tmp / f"{user}.password"
        p.write_text(PASSWORDS[user] + "\n")
        return p

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def secure(tmp_path):
    b = SecureBroker(tmp_path / "broker")
    yield b
    b.stop()


@pytest.fixture
def central(secure, tmp_path, monkeypatch):
    """The real ingest worker, as user exteros-ingest: it stores and sends receipts."""
    monkeypatch.setenv("EXTEROS_OUTBOX__CONFIRM_TIMEOUT_S", "1.5")
    c = Central(f"sqlite:///{tmp_path / 'central.db'}", secure.port, tmp_path / "central",
                devices=("dev-a", "dev-b"))  # fmt: skip
    c.start_thread_worker(username="exteros-ingest", password=PASSWORDS["exteros-ingest"])
    yield c
    c.close()


def ingest(b: SecureBroker, name: str) -> Collector:
    sub = Collector(
        b.port,
        name,
        # Not in the workers' shared group: an observer that takes no share of the load.
        topics=("exteros/v1/+/events",),
        username="exteros-ingest",
        password=PASSWORDS["exteros-ingest"],
    )
    sub.wait_subscribed()
    return sub


def test_acl_device_writes_only_under_its_own_prefix(
    secure, central, tmp_path, caplog, monkeypatch
):
    sub = ingest(secure, "ingest-acl")
    # The password from systemd's $CREDENTIALS_DIRECTORY, as the service unit does.
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt-password").write_text(PASSWORDS["dev-a"] + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    good = MqttOutput(make_cfg(tmp_path, secure.port, "dev-a"), version="t")
    for i in range(5):
        good.emit(ev(i, "dev-a"))
    assert good.close(drain_timeout_s=10) is True
    assert sub.wait_ids(ids(5, device_id="dev-a")) == set()
    assert central.wait_events(ids(5, device_id="dev-a")) == set()

    # dev-a's credentials, writing under dev-b's prefix.
    cfg = make_cfg(
        tmp_path,
        secure.port,
        "dev-b",
        username="dev-a",
        password_file=str(secure.password_file(tmp_path, "dev-a")),
    )
    imposter = MqttOutput(cfg, version="t")
    with caplog.at_level(logging.ERROR):
        for i in range(5):
            imposter.emit(ev(i, "dev-b"))
        assert imposter.close(drain_timeout_s=10) is True  # refused rows are not retried forever
    assert imposter.rejected == 5 and imposter.dropped == 5
    assert any("broker refused message" in r.getMessage() for r in caplog.records)
    assert not wait_until(lambda: sub.event_ids() & ids(5, device_id="dev-b"), timeout=1.0)
    sub.close()


def test_wrong_password_is_a_clear_error(secure, tmp_path):
    bad_pw = tmp_path / "bad.password"
    bad_pw.write_text("nope\n")
    cfg = make_cfg(tmp_path, secure.port, "dev-a", password_file=str(bad_pw))
    out = MqttOutput(cfg, version="t")
    out.emit(ev(0, "dev-a"))
    assert wait_until(lambda: out.last_error is not None)
    assert "refused the connection" in out.last_error
    assert out.close(0) is False


def test_tls_with_test_ca_works(secure, central, tmp_path):
    sub = ingest(secure, "ingest-tls")
    tls = {
        "ca_file": str(secure.etc / "ca-bundle.crt"),
        "cert_file": str(secure.etc / "dev-a-client.crt"),
        "key_file": str(secure.etc / "dev-a-client.key"),
    }
    pw = secure.password_file(tmp_path, "dev-a")
    cfg = make_cfg(tmp_path, secure.tls_port, "dev-a", password_file=str(pw), tls=tls)
    out = MqttOutput(cfg, version="t")
    for i in range(20):
        out.emit(ev(i, "dev-a"))
    assert out.close(drain_timeout_s=10) is True
    assert sub.wait_ids(ids(20, device_id="dev-a")) == set()
    assert central.wait_events(ids(20, device_id="dev-a")) == set()
    sub.close()


def test_tls_with_wrong_ca_fails_with_a_clear_error(secure, tmp_path, caplog, capsys):
    pw = secure.password_file(tmp_path, "dev-a")
    tls = {"ca_file": str(secure.etc / "wrong-ca.crt")}
    cfg = make_cfg(tmp_path, secure.tls_port, "dev-a", password_file=str(pw), tls=tls)
    with caplog.at_level(logging.ERROR):
        out = MqttOutput(cfg, version="t")
        out.emit(ev(0, "dev-a"))
        assert wait_until(lambda: out.last_error is not None)
        assert out.close(0) is False
    assert "TLS failure" in out.last_error and "certificate verify failed" in out.last_error
    assert any(
        "TLS failure" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records
    )
    # The flush command says the same thing and keeps the row.
    assert flush_command(cfg, timeout_s=1.0) == 1
    err = capsys.readouterr().err
    assert "1 message(s) kept" in err and "TLS failure" in err and "wrong-ca.crt" in err


def client(b: SecureBroker, user: str, got: list | None = None) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{user}-{time.monotonic_ns()}",
                    protocol=MQTTProtocolVersion.MQTTv5)  # fmt: skip
    c.username_pw_set(user, PASSWORDS[user])
    if got is not None:
        c.on_message = lambda cl, u, m: got.append((m.topic, m.payload))
    c.connect("127.0.0.1", b.port)
    c.loop_start()
    assert wait_until(c.is_connected, timeout=5)
    return c


def test_acl_receipts_only_from_ingest_and_only_to_their_device(secure, central, tmp_path):
    """A device cannot forge its own receipts (which would delete unstored rows) and
    cannot read another device's; the ingest user can write them."""
    pw = secure.password_file(tmp_path, "dev-a")
    cfg = make_cfg(tmp_path, secure.port, "dev-a", password_file=str(pw))
    snoop: list = []
    b = client(secure, "dev-b", snoop)
    b.subscribe("exteros/v1/dev-a/acks", qos=1)
    b.subscribe("exteros/v1/+/acks", qos=1)

    a_reader: list = []
    a = client(secure, "dev-a", a_reader)
    a.subscribe("exteros/v1/dev-a/acks", qos=1)
    forger = client(secure, "dev-a")
    time.sleep(0.3)
    forged = json.dumps({"schema": "exteros.receipt/1", "events": ["x"], "visits": []})
    forger.publish("exteros/v1/dev-a/acks", forged, qos=1).wait_for_publish(5)
    # Mosquitto answers a v5 publish the ACL denies by dropping the connection.
    assert wait_until(lambda: not forger.is_connected(), timeout=3)

    out = MqttOutput(cfg, version="t")
    for i in range(5):
        out.emit(ev(i, "dev-a"))
    assert out.close(drain_timeout_s=10) is True  # the real receipts came through
    assert wait_until(lambda: a_reader, timeout=3)  # dev-a reads its own receipts
    assert all(json.loads(p)["events"] != ["x"] for _, p in a_reader), "forged receipt passed"
    assert snoop == [], "dev-b read dev-a's receipts"
    for c in (a, b, forger):
        c.disconnect()
        c.loop_stop()
