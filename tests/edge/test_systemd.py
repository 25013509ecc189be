"""sd_notify against a real AF_UNIX datagram socket that the test reads."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from edge.systemd import SystemdNotifier


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.5)
    yield str(path), sock
    sock.close()


def drain(sock: socket.socket) -> list[str]:
    out: list[str] = []
    sock.settimeout(0.05)
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            return out


def test_disabled_without_notify_socket() -> None:
    n = SystemdNotifier(environ={})
    assert not n.enabled
    assert not n.watchdog_enabled
    assert n.ready() is False
    assert n.status("x") is False
    assert n.stopping() is False
    assert n.watchdog() is False


def test_ready_status_stopping(notify_socket) -> None:
    path, sock = notify_socket
    with SystemdNotifier(environ={"NOTIFY_SOCKET": path}) as n:
        assert n.enabled
        assert n.ready()
        assert n.status("cam-a 7.9 fps\nopen visits 2")
        assert n.stopping()
        assert n.reloading()
    assert drain(sock) == [
        "READY=1",
        "STATUS=cam-a 7.9 fps open visits 2",
        "STOPPING=1",
        "RELOADING=1",
    ]


def test_ready_with_status_is_one_datagram(notify_socket) -> None:
    path, sock = notify_socket
    SystemdNotifier(environ={"NOTIFY_SOCKET": path}).ready("warm")
    assert drain(sock) == ["READY=1\nSTATUS=warm"]


def test_abstract_socket() -> None:
    name = f"exteros-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    try:
        n = SystemdNotifier(environ={"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        assert drain(sock) == ["READY=1"]
    finally:
        sock.close()


def test_watchdog_rate_limited_to_half_interval(notify_socket) -> None:
    path, sock = notify_socket
    clock = FakeClock()
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    n = SystemdNotifier(environ=env, clock=clock)
    assert n.watchdog_enabled
    assert n.watchdog_interval_s == 2.0
    sent = []
    for _ in range(50):  # 5 s of frames at 10 fps
        sent.append(n.watchdog())
        clock.t += 0.1
    # at t=0, 2.0, 4.0 (float steps may put the boundary one frame later)
    assert sum(sent) == 3
    assert drain(sock) == ["WATCHDOG=1"] * 3


def test_watchdog_force(notify_socket) -> None:
    path, sock = notify_socket
    n = SystemdNotifier(environ={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"})
    assert n.watchdog()
    assert not n.watchdog()
    assert n.watchdog(force=True)
    assert drain(sock) == ["WATCHDOG=1", "WATCHDOG=1"]


@pytest.mark.parametrize(
    "env",
    [
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "garbage"},
        {},
        {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"},  # meant for another process
    ],
)
def test_watchdog_off(notify_socket, env) -> None:
    path, sock = notify_socket
    n = SystemdNotifier(environ={"NOTIFY_SOCKET": path, **env})
    assert n.enabled
    assert not n.watchdog_enabled
    assert not n.watchdog()
    assert drain(sock) == []


def test_vanished_socket_does_not_raise(tmp_path: Path, caplog) -> None:
    n = SystemdNotifier(environ={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.enabled
    assert n.ready() is False
    assert n.status("x") is False
    # logged once, not per call
    assert sum("sd_notify" in r.message for r in caplog.records) == 1


def test_non_unix_address_disables() -> None:
    assert not SystemdNotifier(environ={"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
