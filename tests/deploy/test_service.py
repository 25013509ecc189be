"""The real ``exteros-edge run`` under a fake systemd: a NOTIFY_SOCKET the test reads.

Three runs of the real process with the real model, each recorded once by a
module fixture and then checked by several small tests:

- a looping video file (camera ``loop: true``): READY, regular WATCHDOG, STATUS,
  STOPPING on SIGTERM, exit within 10 s with every open visit summarised;
- a camera the test controls (a y4m stream through a FIFO) that freezes: WATCHDOG
  stops while no frames come and resumes with them;
- SIGHUP with a changed zone (new visits use it, the open visit goes on) and then
  SIGHUP with a broken file (error logged, the running config stays).

The picture is Ultralytics' ``zidane.jpg``: two people standing still, feet at
x = 0.46 (A) and x = 0.74 (B) of the width.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pytest
import yaml

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]
MODEL = "yolo11n-pose.pt"
WATCHDOG_USEC = 3_000_000  # systemd kills after 3 s without WATCHDOG=1; pings every 1.5 s
READY_TIMEOUT_S = 120.0  # model load + warm-up on a busy 2-core machine
STOP_LIMIT_S = 10.0
W, H = 640, 360

ZONE_A_ONLY = [[0.3, 0.0], [0.6, 0.0], [0.6, 1.0], [0.3, 1.0]]  # person A inside, B outside
ZONE_A_AND_B = [[0.3, 0.0], [1.0, 0.0], [1.0, 1.0], [0.3, 1.0]]  # both inside


# -- helpers -------------------------------------------------------------------------------------
def picture():
    import ultralytics

    path = Path(ultralytics.__file__).parent / "assets" / "zidane.jpg"
    return cv2.resize(cv2.imread(str(path)), (W, H))


def write_video(path: Path, seconds: float = 2.0, fps: int = 10) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (W, H))
    assert writer.isOpened()
    img = picture()
    for _ in range(int(seconds * fps)):
        writer.write(img)
    writer.release()
    return path


def edge_config(tmp: Path, source: str, polygon, loop: bool) -> dict:
    return {
        "device_id": "test-edge",
        "timezone": "UTC",
        "state_dir": str(tmp / "state"),
        "log_format": "text",
        "heartbeat_s": 60,
        "mqtt": {"enabled": False},
        "model": {"weights": MODEL, "process_fps": 4, "motion_skip": False, "threads": 1},
        "cameras": [
            {
                "camera_id": "cam-a",
                "source": source,
                "loop": loop,
                "zones": [
                    {
                        "location": "store-a",
                        "polygon": polygon,
                        "confirm_s": 0.5,
                        "discovery_s": 2.0,
                        "engagement_s": 5.0,
                        "exit_grace_s": 2.0,
                    }
                ],
            }
        ],
    }


def edge_command() -> list[str]:
    script = Path(sys.executable).parent / "exteros-edge"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "edge.cli"]


@dataclass
class Notifications:
    """Datagrams received on the fake NOTIFY_SOCKET, with their arrival time."""

    sock: socket.socket
    got: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reader(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            with self.lock:
                for line in data.decode().splitlines():
                    self.got.append((time.monotonic(), line))

    def times(self, message: str, since: float = 0.0, until: float = float("inf")) -> list[float]:
        with self.lock:
            return [t for t, m in self.got if m == message and since <= t <= until]

    def startswith(self, prefix: str) -> list[str]:
        with self.lock:
            return [m for _, m in self.got if m.startswith(prefix)]

    def wait_for(self, message: str, timeout_s: float, proc: subprocess.Popen) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.times(message)
            if found:
                return found[0]
            if proc.poll() is not None:
                raise AssertionError(f"exteros-edge exited with {proc.returncode} before {message}")
            time.sleep(0.05)
        raise AssertionError(f"no {message} within {timeout_s} s")


@dataclass
class EdgeRun:
    proc: subprocess.Popen
    notes: Notifications
    events_path: Path
    stderr_path: Path
    config_path: Path
    marks: dict[str, float] = field(default_factory=dict)  # name -> monotonic time
    lines_at: dict[str, int] = field(default_factory=dict)  # name -> JSONL lines by then
    returncode: int | None = None
    stop_s: float | None = None

    def messages(self) -> list[dict]:
        if not self.events_path.exists():
            return []
        return [json.loads(x) for x in self.events_path.read_text().splitlines() if x.strip()]

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic()
        self.lines_at[name] = len(self.messages())

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def terminate(self) -> None:
        self.mark("sigterm")
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(STOP_LIMIT_S + 20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait(10)
        self.stop_s = time.monotonic() - self.marks["sigterm"]


@contextlib.contextmanager
def edge_run(config: dict, workdir: Path):
    """Start ``exteros-edge run`` with a fake NOTIFY_SOCKET; always stops it."""
    model = REPO / "models" / MODEL
    if not model.exists():
        from edge.modelzoo import fetch

        fetch(MODEL, model.parent)
    sock_dir = Path(tempfile.mkdtemp(prefix="sd-", dir="/tmp"))  # AF_UNIX paths are short
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_dir / "notify"))
    notes = Notifications(sock)
    threading.Thread(target=notes.reader, daemon=True).start()
    config_path = workdir / "edge.yaml"
    config_path.write_text(yaml.safe_dump(config))
    events_path = workdir / "events.jsonl"
    stderr_path = workdir / "stderr.log"
    env = {
        **os.environ,
        "NOTIFY_SOCKET": str(sock_dir / "notify"),
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
        "YOLO_OFFLINE": "1",
        "YOLO_CONFIG_DIR": str(workdir / "ultralytics"),
        "EXTEROS_MODELS_DIR": str(model.parent),
    }
    cmd = [*edge_command(), "run", "--config", str(config_path), "--no-mqtt",
           "--events-out", str(events_path)]  # fmt: skip
    with stderr_path.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=err, stderr=err, cwd=workdir)
    run = EdgeRun(proc, notes, events_path, stderr_path, config_path)
    try:
        yield run
    finally:
        if proc.poll() is None:
            if run.returncode is None:
                run.terminate()
            else:
                proc.kill()
                proc.wait(10)
        sock.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def events(msgs: list[dict]) -> list[dict]:
    return [m for m in msgs if m.get("schema", "").startswith("exteros.event")]


def summaries(msgs: list[dict]) -> list[dict]:
    return [m for m in msgs if m.get("schema", "").startswith("exteros.visit")]


def explain(run: EdgeRun) -> str:
    return f"\n--- stderr ---\n{run.stderr()[-3000:]}\n--- notify ---\n{run.notes.got[-20:]}"


# -- run 1: a looping video, then SIGTERM ----------------------------------------------------------
@pytest.fixture(scope="module")
def loop_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop")
    video = write_video(tmp / "still.avi")
    cfg = edge_config(tmp, str(video), ZONE_A_AND_B, loop=True)
    with edge_run(cfg, tmp) as run:
        run.notes.wait_for("READY=1", READY_TIMEOUT_S, run.proc)
        run.mark("ready")
        time.sleep(8.0)  # several loops of the 2 s video; visits open, discovery reached
        run.mark("before_stop")
        assert run.proc.poll() is None, "exteros-edge died while running" + explain(run)
        run.terminate()
    return run


def test_ready_arrives(loop_run) -> None:
    assert loop_run.notes.times("READY=1"), explain(loop_run)


def test_watchdog_arrives_regularly_while_frames_flow(loop_run) -> None:
    t = loop_run.notes.times("WATCHDOG=1", loop_run.marks["ready"], loop_run.marks["before_stop"])
    assert len(t) >= 4, explain(loop_run)
    gaps = [b - a for a, b in zip(t, t[1:], strict=False)]
    # systemd restarts the service after WATCHDOG_USEC without a ping
    assert max(gaps) < WATCHDOG_USEC / 1e6, gaps
    # and the rate limit holds: about every WATCHDOG_USEC / 2, not per frame
    assert min(gaps) > WATCHDOG_USEC / 2e6 * 0.8, gaps


def test_status_reports_fps_and_visits(loop_run) -> None:
    status = loop_run.notes.startswith("STATUS=")
    assert status, explain(loop_run)
    assert any("cam-a" in s and "fps" in s for s in status), status


def test_stopping_on_sigterm(loop_run) -> None:
    assert loop_run.notes.times("STOPPING=1", loop_run.marks["sigterm"]), explain(loop_run)


def test_exits_cleanly_within_10_s(loop_run) -> None:
    assert loop_run.returncode == 0, explain(loop_run)
    assert loop_run.stop_s is not None and loop_run.stop_s < STOP_LIMIT_S


def test_every_open_visit_is_summarised(loop_run) -> None:
    msgs = loop_run.messages()
    evs = events(msgs)
    assert evs, "no events: the model saw nobody in the looping video" + explain(loop_run)
    # the still picture keeps both people inside: their visits are open at SIGTERM
    assert not summaries(msgs[: loop_run.lines_at["sigterm"]])
    summarised = {s["visit_id"] for s in summaries(msgs)}
    assert {e["visit_id"] for e in evs} <= summarised
    assert {e["kind"] for e in evs} >= {"impression", "discovery"}


# -- run 2: a camera that freezes --------------------------------------------------------------
class FifoCamera:
    """A y4m stream through a FIFO: frames flow while ``flowing`` is set, else the camera
    hangs with the stream open (as a stalled USB or RTSP camera does)."""

    def __init__(self, path: Path, fps: int = 10) -> None:
        self.path = path
        os.mkfifo(path)
        self.fps = fps
        self.flowing = threading.Event()
        self.flowing.set()
        self.stop = threading.Event()
        self.frames = 0
        self._yuv = cv2.cvtColor(picture(), cv2.COLOR_BGR2YUV_I420).tobytes()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with open(self.path, "wb", buffering=0) as f:  # blocks until the edge opens it
                f.write(f"YUV4MPEG2 W{W} H{H} F{self.fps}:1 Ip A1:1 C420jpeg\n".encode())
                while not self.stop.is_set():
                    if self.flowing.is_set():
                        f.write(b"FRAME\n" + self._yuv)
                        self.frames += 1
                        time.sleep(1 / self.fps)
                    else:
                        time.sleep(0.05)
        except (BrokenPipeError, OSError):
            pass

    def close(self) -> None:
        self.stop.set()
        self.flowing.set()
        # unblock an open() that still waits for a reader
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
        self._thread.join(5)


@pytest.fixture(scope="module")
def frozen_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("frozen")
    cam = FifoCamera(tmp / "cam.y4m")
    cfg = edge_config(tmp, str(cam.path), ZONE_A_AND_B, loop=False)
    try:
        with edge_run(cfg, tmp) as run:
            run.notes.wait_for("READY=1", READY_TIMEOUT_S, run.proc)
            time.sleep(4.0)
            run.mark("freeze")
            cam.flowing.clear()
            time.sleep(1.0 + 6.0)  # frames in flight drain, then 6 s > WATCHDOG_USEC of nothing
            run.mark("thaw")
            alive_while_frozen = run.proc.poll() is None
            cam.flowing.set()
            time.sleep(5.0)
            run.mark("before_stop")
            run.terminate()
    finally:
        cam.close()
    run.alive_while_frozen = alive_while_frozen  # type: ignore[attr-defined]
    return run


def test_watchdog_flows_with_a_live_camera(frozen_run) -> None:
    ready = frozen_run.notes.times("READY=1")[0]
    assert len(frozen_run.notes.times("WATCHDOG=1", ready, frozen_run.marks["freeze"])) >= 2, (
        explain(frozen_run)
    )


def test_watchdog_stops_when_frames_stop(frozen_run) -> None:
    quiet_from = frozen_run.marks["freeze"] + 1.0
    during = frozen_run.notes.times("WATCHDOG=1", quiet_from, frozen_run.marks["thaw"])
    assert during == [], f"WATCHDOG=1 while the camera was frozen: {during}" + explain(frozen_run)
    # the process itself does not exit: systemd's watchdog is what restarts it
    assert frozen_run.alive_while_frozen


def test_watchdog_resumes_with_frames(frozen_run) -> None:
    after = frozen_run.notes.times(
        "WATCHDOG=1", frozen_run.marks["thaw"], frozen_run.marks["before_stop"]
    )
    assert after, "no WATCHDOG=1 after the camera came back" + explain(frozen_run)


def test_frozen_run_stops_cleanly(frozen_run) -> None:
    assert frozen_run.returncode == 0, explain(frozen_run)
    assert frozen_run.stop_s is not None and frozen_run.stop_s < STOP_LIMIT_S


# -- run 3: SIGHUP -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hup_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hup")
    video = write_video(tmp / "still.avi")
    cfg = edge_config(tmp, str(video), ZONE_A_ONLY, loop=True)
    with edge_run(cfg, tmp) as run:
        run.notes.wait_for("READY=1", READY_TIMEOUT_S, run.proc)
        time.sleep(4.0)  # A: impression and discovery; B is outside the zone

        wide = edge_config(tmp, str(video), ZONE_A_AND_B, loop=True)
        run.config_path.write_text(yaml.safe_dump(wide))
        run.mark("hup_zone")
        run.proc.send_signal(signal.SIGHUP)
        time.sleep(5.0)  # B: a new visit in the wider zone; A's visit reaches engagement

        run.config_path.write_text("device_id: test-edge\ncameras: [ {camera_id: cam-a\n")
        run.mark("hup_broken")
        run.proc.send_signal(signal.SIGHUP)
        time.sleep(5.0)  # B's visit goes on under the wide zone, reaches engagement
        run.mark("before_stop")
        run.alive_after_broken = run.proc.poll() is None  # type: ignore[attr-defined]
        run.terminate()
    return run


def _split(run: EdgeRun):
    msgs = run.messages()
    before = events(msgs[: run.lines_at["hup_zone"]])
    after = events(msgs[run.lines_at["hup_zone"] : run.lines_at["sigterm"]])
    return msgs, before, after


def test_sighup_new_visits_use_the_changed_zone(hup_run) -> None:
    msgs, before, after = _split(hup_run)
    assert before, "no events before the reload: A was not counted" + explain(hup_run)
    old_visits = {e["visit_id"] for e in before}
    new_visits = {e["visit_id"] for e in after if e["kind"] == "impression"} - old_visits
    assert new_visits, "no new visit after widening the zone to include B" + explain(hup_run)


def test_sighup_keeps_the_open_visit(hup_run) -> None:
    msgs, before, after = _split(hup_run)
    old_visits = {e["visit_id"] for e in before}
    # not closed by the reload ...
    closed_early = {s["visit_id"] for s in summaries(msgs[: hup_run.lines_at["sigterm"]])}
    assert not (old_visits & closed_early), explain(hup_run)
    # ... and it goes on counting: A's engagement comes after the reload, same visit
    continued = {e["visit_id"] for e in after} & old_visits
    assert continued, "the open visit produced nothing after the reload" + explain(hup_run)
    kinds = {e["kind"] for e in after if e["visit_id"] in continued}
    assert "engagement" in kinds
    # every visit is still summarised once at the end
    final = [s["visit_id"] for s in summaries(msgs)]
    assert sorted(set(final)) == sorted(final)
    assert old_visits <= set(final)


def test_sighup_broken_file_keeps_the_old_config_and_logs(hup_run) -> None:
    assert hup_run.alive_after_broken, "exteros-edge died on a broken config" + explain(hup_run)
    errors = [
        line
        for line in hup_run.stderr().splitlines()
        if "ERROR" in line and ("reload" in line.lower() or "config" in line.lower())
    ]
    assert errors, "no error logged for the broken config" + explain(hup_run)
    # the wide zone still applies: B's visit (inside only the wide zone) was not closed
    msgs = hup_run.messages()
    between = msgs[hup_run.lines_at["hup_zone"] : hup_run.lines_at["sigterm"]]
    b_visits = {e["visit_id"] for e in events(between) if e["kind"] == "impression"}
    closed = {s["visit_id"] for s in summaries(between)}
    assert b_visits and not (b_visits & closed), explain(hup_run)
    # frames kept flowing after the bad reload
    assert hup_run.notes.times(
        "WATCHDOG=1", hup_run.marks["hup_broken"] + 0.5, hup_run.marks["before_stop"]
    )
