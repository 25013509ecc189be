"""Live cameras through the real ``exteros-edge run``: how many 15 fps cameras one box sustains.

Starts ``exteros-edge run`` with N looping scenario videos played as cameras at their
own 15 fps (each on its own reader thread, newest frame only, one shared model), reads
the per-camera processing rate from the systemd STATUS lines it sends to a socket we
own, and compares each N with N=1 measured in the same run. A camera is sustained when
it is processed at >= 95 % of the configured rate (process_fps 8 of a 15 fps camera =
every 2nd frame = 7.5 frames/s).

    .venv/bin/python bench/bench_live_cameras.py [--cameras 1,4,6] [--seconds 40]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edge.scenarios import generate

TARGET = 7.5  # processed frames/s per 15 fps camera at process_fps 8 (stride 2)


def run_n(n: int, video: Path, seconds: float, work: Path) -> list[float]:
    cams = "\n".join(
        f"""  - camera_id: cam-{i}
    source: {video}
    loop: true
    zones:
      - location: madison-ave-store.denim-table
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]"""
        for i in range(n)
    )
    cfg = work / f"edge-{n}.yaml"
    cfg.write_text(f"device_id: bench-01\nmqtt: {{enabled: false}}\ncameras:\n{cams}\n")
    sock_path = work / f"notify-{n}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(1.0)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)],
                            env=env, stderr=subprocess.DEVNULL)  # fmt: skip
    rates: list[float] = []
    try:
        ready_at = None
        deadline = time.monotonic() + 120 + seconds
        while time.monotonic() < deadline:
            try:
                msg = sock.recv(4096).decode()
            except TimeoutError:
                continue
            if "READY=1" in msg and ready_at is None:
                ready_at = time.monotonic()
            # fps is averaged over 10 s: read it once warm-up is 10 s behind us
            if ready_at and time.monotonic() - ready_at > max(12.0, seconds):
                rates = [float(x) for x in re.findall(r"cam-\d+ \w+ ([\d.]+) fps", msg)]
                if len(rates) == n:
                    break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        sock.close()
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", default="1,4,6", help="camera counts to try")
    ap.add_argument("--seconds", type=float, default=30.0, help="measuring time per count")
    ap.add_argument("--scenario", default="group", help="scenario video played by each camera")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video = generate(args.scenario, Path(os.environ.get("EXTEROS_SCENARIO_CACHE", work))).video
        header = ("cameras", "min fps/camera", "mean fps/camera", "total fps", "vs 1 camera",
                  "sustained (>=95% of 7.5)")  # fmt: skip
        print("{:>8} {:>15} {:>16} {:>10} {:>12} {:>25}".format(*header))
        base = None
        for n in [int(x) for x in args.cameras.split(",")]:
            rates = run_n(n, video, args.seconds, work)
            if len(rates) != n:
                print(f"{n:>8} no STATUS with {n} cameras")
                continue
            total = sum(rates)
            base = base or total
            ok = min(rates) >= 0.95 * TARGET
            print(f"{n:>8} {min(rates):>15.2f} {total / n:>16.2f} {total:>10.2f} "
                  f"{total / base:>11.2f}x {('yes' if ok else 'no'):>25}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
