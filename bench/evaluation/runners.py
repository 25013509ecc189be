"""Run a clip through the systems under test and collect what they saw.

- ``run_cli``: the real ``exteros-edge replay`` command in a subprocess; visits and counts come
  from its JSONL, exactly as a user would get them.
- ``run_pipeline_frames``: the same pipeline in-process (``edge.replay.replay`` with
  ``on_frame``) for the per-frame tracks behind recall and identity metrics.
- ``run_naive``: a stock Ultralytics ``model.track`` loop on every frame, the baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from evaluation.boxes import Box
from evaluation.clips import REPO
from evaluation.visits import KINDS, Span

START = "2026-01-01T10:00:00Z"
EXE = REPO / ".venv" / "bin" / "exteros-edge"


class RunError(Exception):
    """A system under test failed on a clip (one line for the user)."""


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@dataclass
class CliRun:
    visits: dict[str, list[Span]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(KINDS, 0))
    )
    wall_s: float = 0.0


def parse_events(lines: list[str], start: str = START) -> CliRun:
    """Visit summaries and event counts per location from the replay's JSONL."""
    base = _ts(start)
    run = CliRun()
    for line in lines:
        if not line.strip():
            continue
        msg = json.loads(line)
        schema = msg.get("schema", "")
        if schema.startswith("exteros.visit/"):
            run.visits[msg["location"]].append(Span(
                _ts(msg["started_at"]) - base, _ts(msg["ended_at"]) - base,
                msg["visit_id"].rsplit("/", 1)[-1], tuple(k for k in msg["kinds"] if k in KINDS),
            ))  # fmt: skip
        elif schema.startswith("exteros.event/") and msg["kind"] in KINDS:
            run.counts[msg["location"]][msg["kind"]] += 1
    return run


def settings_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """``model.imgsz=[480,640]`` -> ``EXTEROS_MODEL__IMGSZ`` (the config's env override)."""
    return {"EXTEROS_" + k.upper().replace(".", "__"): v for k, v in overrides.items()}


def run_cli(video: Path, config: Path, overrides: Mapping[str, str] | None = None) -> CliRun:
    """``exteros-edge replay VIDEO --config FILE --start ... --events-out F --no-mqtt``."""
    env = os.environ | settings_env(overrides or {})
    with tempfile.TemporaryDirectory(prefix="exteros-eval-") as tmp:
        events = Path(tmp) / "events.jsonl"
        cmd = [str(EXE), "replay", str(video), "--config", str(config), "--start", START,
               "--events-out", str(events), "--no-mqtt", "--quiet"]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RunError(f"exteros-edge replay {video.name} exited {proc.returncode}: {last}")
        run = parse_events(events.read_text(encoding="utf-8").splitlines())
    run.wall_s = wall
    return run


@dataclass
class FrameTracks:
    """Per-frame tracks of one run: ``tracks[gt_frame] = [(track_id, box)]``."""

    tracks: dict[int, list[tuple[int, Box]]]
    frames: list[int]  # 1-based gt frames the system ran on
    times: dict[int, float]  # gt frame -> the system's clock (s)
    wall_s: float = 0.0
    inferred: int | None = None


def run_pipeline_frames(
    video: Path, config: Path, overrides: Mapping[str, str] | None = None
) -> FrameTracks:
    """The pipeline in-process, every processed frame's tracks (frame.index 0-based)."""
    os.environ.update(settings_env(overrides or {}))
    from edge.config import load_config
    from edge.replay import replay

    cfg = load_config(config)
    out = FrameTracks({}, [], {})

    def on_frame(res) -> None:
        f = res.frame.index + 1
        out.frames.append(f)
        out.times[f] = res.frame.t
        out.tracks[f] = [(tr.track_id, tuple(float(v) for v in tr.xyxy)) for tr in res.tracks]

    t0 = time.perf_counter()
    report = replay(video, cfg, datetime.fromisoformat(START.replace("Z", "+00:00")), [],
                    progress=False, on_frame=on_frame)  # fmt: skip
    out.wall_s = time.perf_counter() - t0
    out.inferred = report.stats.inferred
    return out


def run_naive(video: Path, weights: Path, fps: float, stride: int = 1, **track_kw) -> FrameTracks:
    """``YOLO(weights).track(frame, persist=True, classes=[0])`` on every ``stride``-th frame."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import cv2
    from ultralytics import YOLO

    model = YOLO(str(weights), task="pose")
    cap = cv2.VideoCapture(str(video))
    out = FrameTracks({}, [], {})
    t0 = time.perf_counter()
    k = 0
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                break
            k += 1
            if (k - 1) % stride:
                continue
            r = model.track(img, persist=True, classes=[0], verbose=False, **track_kw)[0]
            boxes = r.boxes
            rows: list[tuple[int, Box]] = []
            if boxes is not None and boxes.id is not None:
                for tid, xyxy in zip(boxes.id.tolist(), boxes.xyxy.tolist(), strict=True):
                    rows.append((int(tid), tuple(float(v) for v in xyxy)))
            out.frames.append(k)
            out.times[k] = (k - 1) / fps
            out.tracks[k] = rows
    finally:
        cap.release()
    if not out.frames:
        raise RunError(f"no readable frames in {video}")
    out.wall_s = time.perf_counter() - t0
    out.inferred = len(out.frames)
    return out
