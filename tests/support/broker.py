"""A real Mosquitto broker for tests: started on a free port, killable and restartable."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout_s: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s} s")


class Mosquitto:
    """``with Mosquitto(tmp_path) as b: ... b.stop(); b.start()`` keeps the same port and data."""

    def __init__(self, workdir: Path, port: int | None = None, extra_conf: str = "") -> None:
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self.proc: subprocess.Popen | None = None
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"

    def write_conf(self) -> None:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        # as root, mosquitto drops to its own user and then cannot write its data or log
        # in a root-owned temp dir: persistence would silently be off
        run_as = "user root\n" if os.geteuid() == 0 and "user " not in self.extra_conf else ""
        self.conf.write_text(
            run_as
            + f"listener {self.port} 127.0.0.1\n"
            + ("allow_anonymous true\n" if "allow_anonymous" not in self.extra_conf else "")
            + f"persistence true\npersistence_location {data}/\n"
            + f"log_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
            + self.extra_conf
        )

    def start(self) -> Mosquitto:
        self.write_conf()
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_port(self.port)
        except TimeoutError:
            err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {err}") from None
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
