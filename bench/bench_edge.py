#!/usr/bin/env python3
"""Edge benchmark: our replay against what a competent user writes, and a naive loop.

Three contenders process the same scenario video (720p, and a 1080p upscale of it), each
in its own process, measured from process start to exit (imports, model load, decode,
inference, tracking: everything a user pays for):

* **ours**: the real CLI, ``exteros-edge replay VIDEO --config SCENARIO.yaml --no-mqtt``,
  default model settings (whatever runtime the edge ships);
* **competent**: the same libraries used well, ``YOLO('yolo11n-pose.pt').export(
  format='openvino', imgsz=S)`` once, then ``YOLO(export).track(source=VIDEO,
  vid_stride=k, imgsz=S, stream=True)``: the same input size S as ours and k chosen so it
  processes the same frames per second as our default ``model.process_fps``;
* **naive**: ``model.track(frame, persist=True)`` on every frame, PyTorch ``.pt``,
  Ultralytics defaults (imgsz 640).

Per contender: total CPU seconds (user+sys of the child, ``os.wait4``), wall seconds, peak
RSS (the child's ``ru_maxrss``), time to the first processed frame (ours: the CLI's log line
``first frame processed N.NN s after start`` when it has one, else n/a; the baselines print
the same line), frames processed, whether the process maps libtorch / OpenVINO (sampled from
``/proc/PID/maps``), and the size of the virtualenv it runs in (``--device-env`` adds a
device venv: its size, and ours run from it when it has ``bin/exteros-edge``).

Each measurement is repeated (``--repeats``, interleaved) and the median reported with the
spread; compare CPU seconds, not wall: the development machine is shared. One unmeasured
warm-up run per contender first (exports, page cache).

    .venv/bin/python bench/bench_edge.py                 # 'group', 720p + 1080p, 3 repeats
    .venv/bin/python bench/bench_edge.py --quick         # 'passby', 720p, 2 repeats
    .venv/bin/python bench/bench_edge.py --quick --frames 20 --repeats 1   # smoke run
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

START = "2020-01-01T09:00:00Z"
FIRST_RE = re.compile(r"first frame processed ([\d.]+) s after start")
PROCESSED_RE = re.compile(r"(\d+) frames processed")
BASE_WEIGHTS = "yolo11n-pose.pt"
CONTENDERS = ("ours", "competent", "naive")
# target checks: (label, key in the per-height summary, comparison, target, unit)
TARGET_CPU_VS_COMPETENT = 0.7
TARGET_RSS_MB = 450.0
TARGET_FIRST_FRAME_S = 1.5
TARGET_DEVICE_ENV_GB = 1.0


# -- children: the two baselines, each run as its own process --------------------------------
def _since_start() -> float:
    """Seconds since this process started (its kernel start time)."""
    import psutil

    return time.time() - float(psutil.Process().create_time())


def child_export(weights: str, imgsz: tuple[int, int], dest: str) -> int:
    """``YOLO(pt).export(format='openvino', imgsz=...)`` into ``dest``; prints the folder."""
    from ultralytics import YOLO

    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    pt = d / Path(weights).name
    if not pt.exists():
        shutil.copy(weights, pt)
    out = YOLO(str(pt)).export(format="openvino", imgsz=list(imgsz))
    print(json.dumps({"export": str(out)}))
    return 0


def child_competent(video: str, model: str, imgsz: tuple[int, int], stride: int) -> int:
    """The competent user's script: exported OpenVINO model, ``track`` with ``vid_stride``."""
    from ultralytics import YOLO

    yolo = YOLO(model, task="pose")
    n = 0
    for _ in yolo.track(
        source=video, vid_stride=stride, imgsz=list(imgsz), stream=True, verbose=False
    ):
        n += 1
        if n == 1:
            print(f"first frame processed {_since_start():.2f} s after start", flush=True)
    print(json.dumps({"frames_processed": n}), flush=True)
    return 0


def child_naive(video: str, weights: str) -> int:
    """The naive loop: read a frame, ``model.track`` it, every frame, PyTorch defaults."""
    import cv2
    from ultralytics import YOLO

    yolo = YOLO(weights, task="pose")
    cap = cv2.VideoCapture(video)
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        yolo.track(frame, persist=True, verbose=False)
        n += 1
        if n == 1:
            print(f"first frame processed {_since_start():.2f} s after start", flush=True)
    cap.release()
    print(json.dumps({"frames_processed": n}), flush=True)
    return 0


# -- measuring one process -------------------------------------------------------------------
@dataclass
class Run:
    """One measured process."""

    contender: str
    height: int
    rc: int = 0
    cpu_s: float = 0.0
    user_s: float = 0.0
    sys_s: float = 0.0
    wall_s: float = 0.0
    rss_mb: float = 0.0
    first_frame_s: float | None = None  # as the process reports it
    first_frame_seen_s: float | None = None  # when its line reached us, since spawn
    frames: int | None = None
    torch: bool = False
    openvino: bool = False
    counts: dict[str, dict[str, int]] | None = None
    tail: list[str] = field(default_factory=list)


def _libs(pid: int) -> tuple[bool, bool]:
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False, False
    return "libtorch" in maps, "libopenvino" in maps


def measure(
    contender: str, height: int, cmd: list[str], env: dict[str, str], cwd: Path, timeout_s: float
) -> Run:
    """Run ``cmd`` to its end; its CPU, RSS and libraries come from the kernel, not from it."""
    run = Run(contender, height)
    lines: list[str] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        text=True,
        errors="replace",
    )
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if run.first_frame_seen_s is None and FIRST_RE.search(line):
                run.first_frame_seen_s = time.perf_counter() - t0
            lines.append(line.rstrip("\n"))

    def sample() -> None:  # a library mapped at any time counts (torch may load late)
        while not done.wait(0.2) and not (run.torch and run.openvino):
            torch, ov = _libs(proc.pid)
            run.torch |= torch
            run.openvino |= ov

    def kill() -> None:
        if not done.wait(timeout_s):
            proc.kill()

    threads = [threading.Thread(target=f, daemon=True) for f in (read, sample, kill)]
    for t in threads:
        t.start()
    _, status, ru = os.wait4(proc.pid, 0)
    run.wall_s = time.perf_counter() - t0
    proc.returncode = run.rc = os.waitstatus_to_exitcode(status)
    done.set()
    threads[0].join(10)
    run.user_s, run.sys_s = ru.ru_utime, ru.ru_stime
    run.cpu_s = ru.ru_utime + ru.ru_stime
    run.rss_mb = ru.ru_maxrss / 1024.0  # KiB on Linux
    run.tail = lines[-12:]
    for line in lines:
        m = FIRST_RE.search(line)
        if m and run.first_frame_s is None:
            run.first_frame_s = float(m.group(1))
        summary = _json_line(line)
        if summary:
            if summary.get("first_frame_s") is not None and run.first_frame_s is None:
                run.first_frame_s = float(summary["first_frame_s"])
            for key in ("frames_processed", "processed"):
                if isinstance(summary.get(key), int):
                    run.frames = summary[key]
        m = PROCESSED_RE.search(line)
        if m and run.frames is None:
            run.frames = int(m.group(1))
    return run


def _json_line(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not (line.startswith("{") and line.endswith("}")):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def event_counts(jsonl: Path) -> dict[str, dict[str, int]]:
    """Events per location and kind in an ``--events-out`` file."""
    counts: Counter[tuple[str, str]] = Counter()
    if jsonl.exists():
        for line in jsonl.read_text().splitlines():
            msg = json.loads(line)
            if str(msg.get("schema", "")).startswith("exteros.event/"):
                counts[(msg["location"], msg["kind"])] += 1
    out: dict[str, dict[str, int]] = {}
    for (loc, kind), n in sorted(counts.items()):
        out.setdefault(loc, {})[kind] = n
    return out


def du_bytes(path: Path) -> int:
    """Disk usage of a folder, as ``du`` counts it."""
    out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) * 1024


# -- preparing the videos and models ---------------------------------------------------------
def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def transcode(src: Path, dst: Path, height: int | None, frames: int | None) -> Path:
    """``src`` resized to ``height`` (16:9) and/or cut to ``frames`` frames (cached)."""
    import cv2

    if dst.exists():
        return dst
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
    w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
    h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    size = (round(height * 16 / 9), height) if height else (w, h)
    tmp = dst.with_suffix(".part.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
    n = 0
    while frames is None or n < frames:
        ok, frame = cap.read()
        if not ok:
            break
        if (frame.shape[1], frame.shape[0]) != size:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        writer.write(frame)
        n += 1
    writer.release()
    cap.release()
    tmp.rename(dst)
    return dst


@dataclass
class Video:
    height: int
    path: Path
    width: int
    fps: float
    frames: int
    imgsz: tuple[int, int]  # our default model input for this camera (h, w)
    stride: int  # every k-th frame = our default processed rate
    truth: dict[str, dict[str, int]] | None


def describe(path: Path, height: int, truth: dict[str, dict[str, int]] | None) -> Video:
    import cv2

    from edge.config import DEFAULT_MIN_PERSON_PX, ModelConfig
    from edge.inputsize import auto_input_size
    from edge.timebase import frame_step

    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    mc = ModelConfig()
    size = auto_input_size(w, h, DEFAULT_MIN_PERSON_PX, mc.max_imgsz)
    return Video(height, path, w, fps, n, size, frame_step(fps, mc.process_fps), truth)


def child_cmd(kind: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", kind, *args]


def command(
    name: str,
    v: Video,
    work: Path,
    exports: dict[tuple[int, int], str],
    pt: Path,
    edge_bin: Path,
    events: Path,
) -> list[str]:
    """The command line of contender ``name`` (ours, competent, naive) for video ``v``."""
    if name == "ours":
        cfg = work / "scenario" / "bench.yaml"
        return [str(edge_bin), "replay", str(v.path), "--config", str(cfg), "--no-mqtt",
                "--quiet", "--start", START, "--events-out", str(events)]  # fmt: skip
    if name == "competent":
        size = f"{v.imgsz[0]},{v.imgsz[1]}"
        return child_cmd("competent", str(v.path), exports[v.imgsz], size, str(v.stride))
    return child_cmd("naive", str(v.path), str(pt))


# -- report ----------------------------------------------------------------------------------
def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _cell(values: list[float], fmt: str = "{:.1f}") -> str:
    if not values:
        return "n/a"
    med = fmt.format(statistics.median(values))
    if len(values) > 1 and max(values) > min(values):
        return f"{med} ({fmt.format(min(values))}-{fmt.format(max(values))})"
    return med


def _check(
    checks: dict[str, dict[int, tuple[str, str]]],
    h: int,
    name: str,
    value: float | None,
    fmt: str,
    target: float | None,
) -> None:
    text = "n/a" if value is None else fmt.format(value)
    checks.setdefault(name, {})[h] = (text, "info" if target is None else _verdict(value, target))


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None) -> float | None:
    if not a or not b or not a["cpu_s"] or not b["cpu_s"]:
        return None
    return float(a["cpu_s"] / b["cpu_s"])


def _verdict(value: float | None, target: float) -> str:
    if value is None:
        return "n/a"
    return "PASS" if value <= target else "FAIL"


def summarise(runs: list[Run]) -> dict[str, Any]:
    ok = [r for r in runs if r.rc == 0]
    return {
        "runs": len(runs),
        "ok": len(ok),
        "cpu_s": _med([r.cpu_s for r in ok]),
        "cpu_all": [round(r.cpu_s, 2) for r in ok],
        "wall_s": _med([r.wall_s for r in ok]),
        "rss_mb": _med([r.rss_mb for r in ok]),
        "first_frame_s": _med([r.first_frame_s for r in ok if r.first_frame_s is not None]),
        "frames": ok[0].frames if ok else None,
        "torch": any(r.torch for r in ok),
        "openvino": any(r.openvino for r in ok),
        "counts": ok[0].counts if ok else None,
        "counts_stable": len({json.dumps(r.counts, sort_keys=True) for r in ok}) <= 1,
    }


def report(
    videos: list[Video], runs: list[Run], envs: dict[str, dict[str, Any]], meta: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    names = [c for c in (*CONTENDERS, "ours-device") if any(r.contender == c for r in runs)]
    labels = {
        "ours": "ours: exteros-edge replay (default config)",
        "ours-device": "ours, from the device env",
        "competent": "competent: OpenVINO export + track(vid_stride)",
        "naive": "naive: .pt model.track every frame",
    }
    out = [
        f"# Exteros edge benchmark ({meta['date']}, {meta['cpus']} CPUs, {meta['cpu']}, "
        f"load average {meta['load_start']:.1f} at start, {meta['load_end']:.1f} at end)",
        "",
        f"Video: scenario '{meta['scenario']}' ({meta['frames_note']}); {meta['repeats']} "
        "measured run(s) per cell, interleaved, after one unmeasured warm-up each; cells are "
        "the median (min-max). Every number is for the whole process: start, imports, model "
        "load, decode, inference, tracking, exit.",
        "",
    ]
    result: dict[str, Any] = {"meta": meta, "envs": envs, "videos": {}, "checks": {}}
    checks: dict[str, dict[int, tuple[str, str]]] = {}
    for v in videos:
        vr = {c: [r for r in runs if r.height == v.height and r.contender == c] for c in names}
        summ = {c: summarise(vr[c]) for c in names}
        result["videos"][v.height] = {
            "path": str(v.path),
            "size": [v.width, v.height],
            "fps": v.fps,
            "frames": v.frames,
            "imgsz": list(v.imgsz),
            "vid_stride": v.stride,
            "truth": v.truth,
            "contenders": summ,
            "runs": [asdict(r) for r in runs if r.height == v.height],
        }
        out.append(
            f"## {v.width}x{v.height}, {v.frames} frames at {v.fps:g} fps; model input "
            f"{v.imgsz[0]}x{v.imgsz[1]}, 1 frame in {v.stride} processed "
            f"({v.fps / v.stride:g}/s) for ours and competent"
        )
        out.append("")
        rows = []
        for c in names:
            s = summ[c]
            rs = [r for r in vr[c] if r.rc == 0]
            env = envs.get("device" if c == "ours-device" else "dev", {})
            rows.append(
                [
                    labels[c],
                    _cell([r.cpu_s for r in rs]),
                    _cell([r.wall_s for r in rs]),
                    _cell([r.rss_mb for r in rs], "{:.0f}"),
                    _cell([r.first_frame_s for r in rs if r.first_frame_s is not None], "{:.2f}"),
                    "n/a" if s["frames"] is None else str(s["frames"]),
                    "yes" if s["torch"] else "no",
                    "yes" if s["openvino"] else "no",
                    env.get("size_gb_text", "n/a"),
                    f"{s['ok']}/{s['runs']}",
                ]
            )
        out.append(
            table(
                [
                    "contender",
                    "total CPU s",
                    "wall s",
                    "peak RSS MB",
                    "first frame s",
                    "frames processed",
                    "torch loaded",
                    "OpenVINO loaded",
                    "env GB",
                    "ok runs",
                ],
                rows,
            )
        )
        out.append("")
        o, comp, nai = summ.get("ours"), summ.get("competent"), summ.get("naive")
        h = v.height
        check = functools.partial(_check, checks, h)

        check("ours CPU / competent CPU", _ratio(o, comp), "{:.2f}", TARGET_CPU_VS_COMPETENT)
        check("ours CPU / naive CPU", _ratio(o, nai), "{:.2f}", None)
        check("ours peak RSS MB", o["rss_mb"] if o else None, "{:.0f}", TARGET_RSS_MB)
        ff = o["first_frame_s"] if o else None
        check("ours first frame s", ff, "{:.2f}", TARGET_FIRST_FRAME_S)
        if o:
            checks.setdefault("ours loads torch", {})[h] = (
                ("yes", "FAIL") if o["torch"] else ("no", "PASS")
            )
        if "ours-device" in summ:
            d = summ["ours-device"]
            check(
                "ours (device env) CPU / competent CPU",
                _ratio(d, comp),
                "{:.2f}",
                TARGET_CPU_VS_COMPETENT,
            )
            check("ours (device env) peak RSS MB", d["rss_mb"], "{:.0f}", TARGET_RSS_MB)
            checks.setdefault("ours (device env) loads torch", {})[h] = (
                ("yes", "FAIL") if d["torch"] else ("no", "PASS")
            )
        if o and o["counts"] is not None:
            got = o["counts"]
            line = "Counts of ours: " + (
                "; ".join(
                    f"{loc.rsplit('.', 1)[-1]} " + "/".join(str(c.get(k, 0)) for k in KINDS)
                    for loc, c in got.items()
                )
                or "no events"
            )
            line += " (impression/discovery/engagement/interaction)"
            if v.truth is not None:
                same = _same_counts(got, v.truth)
                line += (
                    ", the same as the scenario's expected counts"
                    if same
                    else ", NOT the scenario's expected counts " + json.dumps(v.truth)
                )
                result["videos"][h]["counts_match_truth"] = same
            else:
                line += f" (no truth for a video cut to {v.frames} frames)"
            if not o["counts_stable"]:
                line += "; counts DIFFER between repeats"
            dev = summ.get("ours-device")
            if dev and dev["counts"] is not None:
                same_dev = _same_counts(dev["counts"], got)
                line += "; from the device env " + (
                    "the same" if same_dev else "DIFFERENT: " + json.dumps(dev["counts"])
                )
            out += [line + ".", ""]
    size = envs.get("device", {}).get("size_gb")
    heights = [v.height for v in videos]
    checks["device env GB"] = dict.fromkeys(
        heights, ("n/a" if size is None else f"{size:.2f}", _verdict(size, TARGET_DEVICE_ENV_GB))
    )
    targets = {
        "ours CPU / competent CPU": f"<= {TARGET_CPU_VS_COMPETENT}",
        "ours CPU / naive CPU": "(info)",
        "ours peak RSS MB": f"<= {TARGET_RSS_MB:.0f}",
        "ours first frame s": f"<= {TARGET_FIRST_FRAME_S}",
        "ours loads torch": "no",
        "ours (device env) CPU / competent CPU": f"<= {TARGET_CPU_VS_COMPETENT}",
        "ours (device env) peak RSS MB": f"<= {TARGET_RSS_MB:.0f}",
        "ours (device env) loads torch": "no",
        "device env GB": f"<= {TARGET_DEVICE_ENV_GB:g}",
    }
    out += ["## Targets", ""]
    rows = []
    for name, per in checks.items():
        cells = [per[h][0] if per[h][1] in ("info", "n/a") else " ".join(per[h]) for h in heights]
        rows.append([name, *cells, targets[name]])
        result["checks"][name] = {
            str(h): {"value": per[h][0], "verdict": per[h][1]} for h in heights
        }
    out.append(table(["check", *[f"{h}p" for h in heights], "target"], rows))
    out.append("")
    dev = envs.get("dev", {})
    out.append(
        f"Environments: dev venv {dev.get('path')} {dev.get('size_gb_text', 'n/a')} GB "
        f"(ours, competent and naive run in it); device env "
        + (
            f"{envs['device']['path']} {envs['device']['size_gb_text']} GB"
            if "device" in envs
            else "n/a (no --device-env)"
        )
        + "."
    )
    out.append(
        "Noise: the machine is shared; the (min-max) spread of the CPU seconds above is the "
        "run-to-run noise. CPU seconds (user+sys of the process, all threads) are far less "
        "sensitive to other load than wall seconds."
    )
    out.append("")
    return "\n".join(out), result


KINDS = ("impression", "discovery", "engagement", "interaction")


def _same_counts(got: dict[str, dict[str, int]], truth: dict[str, dict[str, int]]) -> bool:
    locs = set(got) | set(truth)
    return all(
        {k: got.get(loc, {}).get(k, 0) for k in KINDS}
        == {k: truth.get(loc, {}).get(k, 0) for k in KINDS}
        for loc in locs
    )


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [fmt_row(header, widths), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += [fmt_row(r, widths) for r in rows]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------
def env_info(path: Path) -> dict[str, Any]:
    size = du_bytes(path) / 1e9
    return {"path": str(path), "size_gb": round(size, 3), "size_gb_text": f"{size:.2f}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="bench_edge.py",
        description=__doc__,
        epilog="Prints markdown tables (stdout); progress goes to stderr. Exit 0 when every "
        "run completed (whatever the numbers), 1 when one failed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        help="short run: scenario 'passby' (136 frames), 720p only, 2 repeats",
    )
    ap.add_argument("--scenario", help="scenario video (default group; quick: passby)")
    ap.add_argument(
        "--heights",
        help="video heights, 720 and/or 1080 (an upscale of the "
        "720p scenario), comma-separated (default 720,1080; quick: 720)",
    )
    ap.add_argument("--frames", type=int, help="cut the video to this many frames (smoke runs)")
    ap.add_argument("--repeats", type=int, help="measured runs per cell (default 3; quick: 2)")
    ap.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated subset of: " + ", ".join(CONTENDERS),
    )
    ap.add_argument(
        "--device-env",
        type=Path,
        help="a device venv (make dist / install): its size is reported, and ours "
        "also runs from it when it has bin/exteros-edge",
    )
    ap.add_argument("--no-warmup", action="store_true", help="skip the unmeasured warm-up runs")
    ap.add_argument(
        "--work",
        type=Path,
        default=Path(tempfile.gettempdir()) / "exteros-bench",
        help="videos and the competent user's export are cached here (default %(default)s)",
    )
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    ap.add_argument("--json", type=Path, help="also write every number here")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        kind, *rest = args.child
        if kind == "competent":
            h, w = (int(x) for x in rest[2].split(","))
            return child_competent(rest[0], rest[1], (h, w), int(rest[3]))
        if kind == "naive":
            return child_naive(rest[0], rest[1])
        if kind == "export":
            h, w = (int(x) for x in rest[1].split(","))
            return child_export(rest[0], (h, w), rest[2])
        ap.error(f"unknown child {kind}")

    os.environ.setdefault("YOLO_OFFLINE", "1")
    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    bad = [c for c in contenders if c not in CONTENDERS]
    if bad:
        ap.error(f"unknown contender(s) {', '.join(bad)}; known: {', '.join(CONTENDERS)}")
    scenario = args.scenario or ("passby" if args.quick else "group")
    heights = [int(x) for x in (args.heights or ("720" if args.quick else "720,1080")).split(",")]
    if any(h < 144 for h in heights):
        ap.error("--heights: each height must be >= 144")
    repeats = args.repeats or (2 if args.quick else 3)
    if repeats < 1 or (args.frames is not None and args.frames < 2):
        ap.error("--repeats must be >= 1 and --frames >= 2")
    edge_bin = Path(sys.executable).parent / "exteros-edge"
    if not edge_bin.exists():
        ap.error(f"{edge_bin} not found: run this with the dev venv's python (make setup)")
    device_bin = None
    if args.device_env is not None:
        if not args.device_env.is_dir():
            ap.error(f"--device-env {args.device_env}: not a folder")
        cand = args.device_env / "bin" / "exteros-edge"
        device_bin = cand if cand.exists() else None

    from edge.modelzoo import models_dir, resolve_weights
    from edge.scenarios import SCENARIOS, generate, load_truth

    if scenario not in SCENARIOS:
        ap.error(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    work: Path = args.work
    (work / "scenario").mkdir(parents=True, exist_ok=True)
    log(f"work dir {work}; rendering scenario {scenario} (cached)")
    files = generate(scenario, work / "scenario")
    truth = load_truth(files.truth)["expected_counts"]
    # the scenario's config, its source pointing nowhere in particular: replay takes VIDEO
    shutil.copy(files.config, work / "scenario" / "bench.yaml")
    videos = []
    for h in heights:
        src = Path(files.video)
        cut = f"_{args.frames}f" if args.frames else ""
        if h == 720 and not args.frames:
            path = src
        else:
            path = transcode(
                src,
                work / "scenario" / f"{src.stem}_{h}p{cut}.mp4",
                None if h == 720 else h,
                args.frames,
            )
        videos.append(describe(path, h, None if args.frames else truth))
    pt = resolve_weights(BASE_WEIGHTS)
    exports: dict[tuple[int, int], str] = {}
    if "competent" in contenders:
        for size in sorted({v.imgsz for v in videos}):
            dest = work / "competent" / f"{size[0]}x{size[1]}"
            folder = dest / (pt.stem + "_openvino_model")
            if not (folder / "metadata.yaml").exists():
                log(
                    f"competent user's export: YOLO('{pt.name}').export(format='openvino', "
                    f"imgsz={list(size)})"
                )
                proc = subprocess.run(
                    child_cmd("export", str(pt), f"{size[0]},{size[1]}", str(dest)),
                    stdout=sys.stderr,
                )
                if proc.returncode != 0:
                    raise SystemExit(
                        f"bench: the competent user's export failed (exit {proc.returncode})"
                    )
            exports[size] = str(folder)
    envs = {"dev": env_info(Path(sys.prefix))}
    if args.device_env is not None:
        envs["device"] = env_info(args.device_env)
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    # the exports `make models` made, as a release ships them beside a device install
    env.setdefault("EXTEROS_MODELS_DIR", str(models_dir()))
    run_dir = work / "runs"
    run_dir.mkdir(exist_ok=True)
    names = list(contenders)
    if device_bin is not None and "ours" in contenders:
        names.append("ours-device")

    def cmd_for(name: str, v: Video) -> list[str]:
        events = run_dir / f"events-{name}-{v.height}.jsonl"
        events.unlink(missing_ok=True)
        binary = device_bin if name == "ours-device" and device_bin else edge_bin
        kind = "ours" if name == "ours-device" else name
        return command(kind, v, work, exports, pt, binary, events)

    failed = False
    if not args.no_warmup:
        warm = transcode(videos[0].path, work / "scenario" / f"warmup_{heights[0]}p.mp4", None, 8)
        wv = describe(warm, heights[0], None)
        for name in names:
            log(f"warm-up (unmeasured): {name}")
            r = measure(name, 0, cmd_for(name, wv), env, run_dir, args.timeout)
            if r.rc != 0:
                log(f"  {name} warm-up failed (exit {r.rc}):\n    " + "\n    ".join(r.tail))
                failed = True
    runs: list[Run] = []
    for i in range(repeats):
        for v in videos:
            for name in names:
                log(f"run {i + 1}/{repeats}: {name} on {v.width}x{v.height}")
                r = measure(name, v.height, cmd_for(name, v), env, run_dir, args.timeout)
                if name.startswith("ours"):
                    r.counts = event_counts(run_dir / f"events-{name}-{v.height}.jsonl")
                log(
                    f"  cpu {r.cpu_s:.1f} s, wall {r.wall_s:.1f} s, rss {r.rss_mb:.0f} MB, "
                    f"first frame {r.first_frame_s}, frames {r.frames}, torch {r.torch}, "
                    f"exit {r.rc}"
                )
                if r.rc != 0:
                    log("  failed:\n    " + "\n    ".join(r.tail))
                    failed = True
                runs.append(r)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "scenario": scenario,
        "frames_note": f"cut to {args.frames} frames" if args.frames else "whole video",
        "repeats": repeats,
        "duration_s": round(time.perf_counter() - t_start),
    }
    text, result = report(videos, runs, envs, meta)
    print(text)
    log(f"total {time.perf_counter() - t_start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
