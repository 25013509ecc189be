#!/usr/bin/env python3
"""Live cameras through the real ``exteros-edge run``: how many 15 fps cameras one box sustains.

Starts the service (``edge/service.py``: one process, one shared model, a reader thread per
camera keeping only the newest frame) with N simulated live cameras: a looping scenario
video each, played at its own 15 fps (a file source is paced like a camera). The default
model settings apply, so each camera should be processed at the default processed rate
(``model.process_fps`` 8 of a 15 fps camera = every 2nd frame = 7.5 frames/s). The
per-camera rate comes from the systemd STATUS lines the service sends to a socket we own
(each is the count over the last 10 s), averaged over the measuring window after a
warm-up; the process's CPU over that window comes from psutil and its peak RSS from
``os.wait4``. A camera is sustained when it is processed at >= 95 % of the target rate;
the box sustains N cameras when all N are.

``--cameras auto`` (default) tries 1, then 4 (the target); up to 8 while sustained, else
down to 3 and 2.

    .venv/bin/python bench/bench_live_cameras.py [--cameras auto|1,4,6] [--seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_CAMERAS = 4
SUSTAINED = 0.95  # a camera at >= 95 % of the target rate is sustained
WARMUP_S = 12.0  # after READY: the STATUS rate is a 10 s window, let it fill
STATUS_RE = re.compile(r"(cam-\d+) (up|down) ([\d.]+) fps")


def log(msg: str) -> None:
    print(f"[live {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def config_text(n: int, video: Path, imgsz: tuple[int, int] | None = None) -> str:
    cams = "\n".join(
        f"""  - camera_id: cam-{i + 1}
    source: {video}
    loop: true
    zones:
      - location: madison-ave-store.denim-table
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]"""
        for i in range(n)
    )
    model = f"model: {{imgsz: [{imgsz[0]}, {imgsz[1]}]}}\n" if imgsz else ""
    return f"device_id: bench-01\nmqtt: {{enabled: false}}\n{model}cameras:\n{cams}\n"


def run_n(
    n: int,
    video: Path,
    seconds: float,
    work: Path,
    edge_bin: Path,
    imgsz: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One service with ``n`` cameras: per-camera processed rate, CPU and RSS."""
    import psutil

    cfg = work / f"edge-{n}.yaml"
    cfg.write_text(config_text(n, video, imgsz))
    sock_path = work / f"notify-{n}.sock"
    sock_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(1.0)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "YOLO_OFFLINE": "1"}
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(edge_bin), "run", "--config", str(cfg)],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
    )
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr or []), daemon=True)
    reader.start()
    ps = psutil.Process(proc.pid)
    samples: dict[str, list[float]] = {}
    ready_s = None
    cpu0 = cpu1 = None
    window = None
    try:
        deadline = t0 + 180 + seconds
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                msg = sock.recv(4096).decode()
            except TimeoutError:
                continue
            now = time.monotonic()
            if "READY=1" in msg and ready_s is None:
                ready_s = now - t0
            if ready_s is None or now - t0 - ready_s < WARMUP_S:
                continue
            if cpu0 is None:  # the measuring window starts at the first STATUS after warm-up
                c = ps.cpu_times()
                cpu0, window = (c.user + c.system, now), now
                continue
            for cam, _state, fps in STATUS_RE.findall(msg):
                samples.setdefault(cam, []).append(float(fps))
            assert window is not None
            if now - window >= seconds and all(
                len(samples.get(f"cam-{i + 1}", [])) >= 2 for i in range(n)
            ):
                c = ps.cpu_times()
                cpu1 = (c.user + c.system, now)
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        killer = threading.Timer(60, proc.kill)  # a service that does not stop is killed
        killer.start()
        ru: resource.struct_rusage | None = None
        try:
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            pass
        killer.cancel()
        sock.close()
        reader.join(5)
    rates = {cam: statistics.mean(v) for cam, v in sorted(samples.items())}
    cores = None
    if cpu0 and cpu1:
        cores = (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])
    return {
        "cameras": n,
        "ready_s": ready_s,
        "rates": rates,
        "cpu_cores": cores,
        "peak_rss_mb": ru.ru_maxrss / 1024.0 if ru else None,
        "error": None
        if len(rates) == n
        else "no STATUS for every camera: " + " | ".join(line.strip() for line in err[-5:]),
    }


def _ms_per_frame(r: dict[str, Any]) -> float | None:
    """CPU ms the service spent per processed frame (all cameras, decode included)."""
    total = sum(r["rates"].values())
    if r["error"] or r["cpu_cores"] is None or not total:
        return None
    return float(r["cpu_cores"] / total * 1000)


def plan(spec: str) -> list[int] | None:
    """Explicit camera counts, or None for the automatic search."""
    if spec == "auto":
        return None
    counts = [int(x) for x in spec.split(",") if x.strip()]
    if not counts or min(counts) < 1:
        raise ValueError(f"--cameras {spec!r}: 'auto' or comma-separated counts >= 1")
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cameras", default="auto", help="camera counts to try, or auto")
    ap.add_argument("--seconds", type=float, default=30.0, help="measuring time per count")
    ap.add_argument("--scenario", default="group", help="scenario video played by each camera")
    ap.add_argument(
        "--height",
        type=int,
        default=720,
        help="camera height: 720 (the scenario) or an upscale, e.g. 1080",
    )
    ap.add_argument(
        "--edge-bin",
        type=Path,
        default=Path(sys.executable).parent / "exteros-edge",
        help="the exteros-edge to run (default: the one of this venv)",
    )
    ap.add_argument(
        "--imgsz",
        help="model input H,W instead of the default (automatic per camera), e.g. 384,640 "
        "for the near-camera profile",
    )
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "exteros-bench")
    ap.add_argument("--json", type=Path, help="also write every number here")
    args = ap.parse_args(argv)
    try:
        counts = plan(args.cameras)
    except ValueError as exc:
        ap.error(str(exc))
    imgsz = None
    if args.imgsz:
        try:
            h, w = (int(x) for x in args.imgsz.split(","))
        except ValueError:
            ap.error(f"--imgsz {args.imgsz!r}: want H,W, e.g. 384,640")
        imgsz = (h, w)
    if not args.edge_bin.exists():
        ap.error(f"--edge-bin {args.edge_bin}: not found")

    import cv2

    from bench.bench_edge import transcode
    from edge.config import ModelConfig
    from edge.scenarios import generate
    from edge.timebase import processed_rate

    work: Path = args.work / "live"
    work.mkdir(parents=True, exist_ok=True)
    video = Path(generate(args.scenario, args.work / "scenario").video)
    if args.height != 720:
        video = transcode(
            video, args.work / "scenario" / f"{video.stem}_{args.height}p.mp4", args.height, None
        )
    cap = cv2.VideoCapture(str(video))
    cam_fps = cap.get(cv2.CAP_PROP_FPS)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    process_fps = ModelConfig().process_fps
    target = processed_rate(cam_fps, process_fps)
    load_start = os.getloadavg()[0]
    log(
        f"video {video} ({size[0]}x{size[1]} at {cam_fps:g} fps); default process_fps "
        f"{process_fps:g}: target {target:g} processed frames/s per camera"
    )

    results: list[dict[str, Any]] = []

    def measure(n: int) -> bool:
        log(f"{n} camera(s): starting exteros-edge run")
        load = os.getloadavg()[0]
        r = run_n(n, video, args.seconds, work, args.edge_bin, imgsz)
        r["load"] = load
        r["sustained"] = r["error"] is None and min(r["rates"].values()) >= SUSTAINED * target
        results.append(r)
        log(f"  {r}")
        return bool(r["sustained"])

    if counts is None:
        measure(1)
        if measure(TARGET_CAMERAS):
            n = TARGET_CAMERAS + 2
            while n <= 8 and measure(n):
                n += 2
        else:
            for n in (TARGET_CAMERAS - 1, TARGET_CAMERAS - 2):
                if measure(n):
                    break
    else:
        for n in counts:
            measure(n)

    results.sort(key=lambda r: r["cameras"])
    base = next((r for r in results if r["cameras"] == 1 and not r["error"]), None)
    base_total = sum(base["rates"].values()) if base else None
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"# Live cameras through exteros-edge run ({date}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, load average "
        f"{load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end)"
    )
    print()
    print(
        f"Each camera: {args.scenario} {size[0]}x{size[1]} looping at {cam_fps:g} fps; "
        + (f"model input {imgsz[0]}x{imgsz[1]}, otherwise " if imgsz else "")
        + f"default model settings, target {target:g} processed frames/s per camera; "
        "sustained = every "
        f"camera >= {SUSTAINED:.0%} of it over {args.seconds:g} s after a {WARMUP_S:g} s "
        "warm-up."
    )
    print()
    print(
        "| cameras | min fps/camera | mean fps/camera | total fps | vs 1 camera | CPU cores "
        "used | CPU ms per processed frame | peak RSS MB | load average | sustained |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["error"]:
            print(f"| {r['cameras']} | {r['error']} |  |  |  |  |  |  |  |  |")
            continue
        rates = list(r["rates"].values())
        total = sum(rates)
        vs = f"{total / base_total:.2f}x" if base_total else "-"
        cores = f"{r['cpu_cores']:.2f}" if r["cpu_cores"] is not None else "n/a"
        ms = _ms_per_frame(r)
        ms_text = f"{ms:.0f}" if ms is not None else "n/a"
        rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else "n/a"
        print(
            f"| {r['cameras']} | {min(rates):.2f} | {total / len(rates):.2f} | {total:.1f} | "
            f"{vs} | {cores} | {ms_text} | {rss} | {r['load']:.1f} | "
            f"{'yes' if r['sustained'] else 'no'} |"
        )
    sustained = max((r["cameras"] for r in results if r["sustained"]), default=0)
    verdict = "PASS" if sustained >= TARGET_CAMERAS else "FAIL"
    tried_above = any(r["cameras"] > sustained and not r["sustained"] for r in results)
    bound = "" if tried_above else " (the most tried)"
    print()
    print(
        f"Sustained: {sustained} camera(s) x {cam_fps:g} fps{bound}; target >= "
        f"{TARGET_CAMERAS}: ratio {sustained / TARGET_CAMERAS:.2f} {verdict}."
    )
    costs = [m for r in results if (m := _ms_per_frame(r)) is not None]
    estimate = None
    if costs:
        cost = statistics.median(costs)
        per_camera = cost / 1000 * target  # cores one camera needs at the target rate
        cpus = os.cpu_count() or 1
        estimate = cpus / per_camera
        print(
            f"CPU-bound estimate (less sensitive to other load than the measured rates): "
            f"{cost:.0f} CPU ms per processed frame (median) = {per_camera:.2f} cores per "
            f"camera at {target:g}/s, so {estimate:.1f} cameras on {cpus} free cores "
            f"(ratio to the target {estimate / TARGET_CAMERAS:.2f})."
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "video": str(video),
                    "size": size,
                    "camera_fps": cam_fps,
                    "target_fps": target,
                    "results": results,
                    "sustained": sustained,
                    "target_cameras": TARGET_CAMERAS,
                    "imgsz": imgsz,
                    "cpu_bound_estimate": estimate,
                    "verdict": verdict,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
