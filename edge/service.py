"""``exteros-edge run``: all live cameras of a device until SIGTERM.

One process, one shared detector (one compiled model per input size), cameras served
round-robin (each camera's newest frame, at the configured processing rate). Each round
submits the inference of every camera's new frame first and then tracks them in turn,
so the cameras' inferences run while earlier ones are tracked (``edge.runtime.lookahead``).
systemd hears READY once the model is warm and every camera has delivered a frame
(or been marked down), WATCHDOG only while frames flow, STATUS with fps/visits/outbox
depth, and STOPPING on SIGTERM. SIGHUP reloads the config: changed zones apply to new
visits, open visits are kept, and a broken file leaves the old config in place.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge import __version__
from edge.config import CameraConfig, ConfigError, EdgeConfig, load_config
from edge.detector import build_detector
from edge.logs import setup_logging
from edge.outputs import Message, Output
from edge.outputs.factory import build_outputs
from edge.pipeline import CameraPipeline, input_size_for
from edge.replay import process_age_s
from edge.runtime.lookahead import Lookahead
from edge.sources import Frame, LiveSource, is_live
from edge.systemd import SystemdNotifier
from exteros.contract import CameraHealth, Heartbeat

log = logging.getLogger("edge.service")

READY_TIMEOUT_S = 15.0  # a camera that gives no frame by then is marked down for READY
STATUS_EVERY_S = 5.0
STOP_DRAIN_S = 5.0  # SIGTERM: give the broker this long, the rest stays in the outbox


@dataclass
class CameraRuntime:
    config: CameraConfig
    source: LiveSource
    base: datetime
    pipe: CameraPipeline | None = None
    last_processed_t: float = -1e9
    processed: list[float] = field(default_factory=list)  # recent processing times (mono)
    first_frame_done: bool = False
    busy: bool = False  # its last frame ran the model: start the next one early

    def fps(self, now: float) -> float:
        self.processed = [t for t in self.processed if now - t <= 10.0]
        return len(self.processed) / 10.0


class EdgeService:
    def __init__(self, config_path: str | Path, cfg: EdgeConfig, outputs: list[Output]) -> None:
        self.config_path = Path(config_path)
        self.cfg = cfg
        self.outputs = outputs
        self.notifier = SystemdNotifier()
        self.stop = threading.Event()
        self.reload = threading.Event()
        self.started_mono = time.monotonic()
        self.cameras: list[CameraRuntime] = []

    # -- lifecycle -----------------------------------------------------------------------
    def _open_cameras(self) -> None:
        for cam in self.cfg.cameras:
            base = datetime.now(UTC)
            src = LiveSource(
                cam.source,
                cam.camera_id,
                fps=cam.fps,
                pace=not is_live(cam.source),  # a file plays like a camera, at its own fps
                loop=cam.loop,
            )
            self.cameras.append(CameraRuntime(cam, src, base))

    def _emit(self, messages: list[Message]) -> None:
        for msg in messages:
            for out in self.outputs:
                out.emit(msg)

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload.set())

    def _do_reload(self) -> None:
        self.reload.clear()
        self.notifier.reloading()
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("reload: config rejected, keeping the running one: %s", exc)
            self.notifier.ready()
            return
        by_id = {c.camera_id: c for c in new.cameras}
        for cr in self.cameras:
            cam = by_id.get(cr.config.camera_id)
            if cam is None:
                log.warning("reload: camera %s removed from the config; restart to stop it",
                            cr.config.camera_id, extra={"camera": cr.config.camera_id})  # fmt: skip
                continue
            if cam.source != cr.config.source:
                log.warning("reload: camera %s source changed; restart to apply",
                            cr.config.camera_id, extra={"camera": cr.config.camera_id})  # fmt: skip
            cr.config = cam
            if cr.pipe is not None:
                cr.pipe.reconfigure(cam)
                log.info("reload: camera %s now counts %s", cam.camera_id,
                         ", ".join(cam.locations()),
                         extra={"camera": cam.camera_id})  # fmt: skip
        self.notifier.ready()

    def _status_line(self, now: float) -> str:
        parts = []
        for cr in self.cameras:
            visits = cr.pipe.open_visits() if cr.pipe else 0
            state = "up" if cr.source.connected else "down"
            parts.append(f"{cr.config.camera_id} {state} {cr.fps(now):.1f} fps {visits} open")
        depth = sum(o.depth() for o in self.outputs)
        return "; ".join(parts) + f"; outbox {depth}"

    def _heartbeat(self, now: float) -> None:
        cams = {}
        for cr in self.cameras:
            last = None
            if cr.source.last_frame_mono is not None:
                last = datetime.now(UTC) - timedelta(seconds=now - cr.source.last_frame_mono)
            cams[cr.config.camera_id] = CameraHealth(
                fps=cr.fps(now), connected=cr.source.connected, last_frame_at=last
            )
        for out in self.outputs:
            hb = Heartbeat(
                at=datetime.now(UTC),
                uptime_s=round(now - self.started_mono, 1),
                locations=self.cfg.locations(),
                cameras=cams,
                outbox_depth=out.depth(),
                outbox_dropped=out.dropped,
                version=__version__,
            )
            out.heartbeat(hb)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        detector = Lookahead(build_detector(self.cfg.model, parallel=len(self.cfg.cameras)))
        detector.warmup(640, 384)  # a fixed input size loads now; automatic sizes per camera
        self._open_cameras()
        period = 1.0 / self.cfg.model.process_fps if self.cfg.model.process_fps > 0 else 0.0
        ready_sent = False
        next_status = next_hb = time.monotonic()
        log.info("running %d camera(s) on device %s", len(self.cameras), self.cfg.device_id)
        while not self.stop.is_set():
            if self.reload.is_set():
                self._do_reload()
            due: list[tuple[CameraRuntime, Frame]] = []
            for cr in self.cameras:
                frame = cr.source.read(0)
                if frame is None:
                    continue
                if frame.t - cr.last_processed_t < period * 0.9:
                    continue
                cr.last_processed_t = frame.t
                if cr.pipe is None:
                    # The model for this camera's size loads (or is exported, once) now; that
                    # takes seconds, so this frame is stale afterwards: drop it, start fresh.
                    h, w = frame.image.shape[:2]
                    detector.warmup(w, h, input_size_for(self.cfg, cr.config, w, h))
                    fps = self.cfg.model.process_fps or cr.source.fps or 15.0
                    cr.pipe = CameraPipeline(self.cfg, cr.config, detector, fps, cr.base)
                    cr.last_processed_t = float("-inf")
                    continue
                if cr.busy:  # every camera's inference starts before any is tracked
                    detector.start(frame.image, cr.pipe.imgsz)
                due.append((cr, frame))
            for cr, frame in due:
                self._process(cr, frame, detector)
            got_frame = bool(due)
            now = time.monotonic()
            if got_frame:
                self.notifier.watchdog()
            if not ready_sent and all(
                cr.first_frame_done or now - self.started_mono > READY_TIMEOUT_S
                for cr in self.cameras
            ):
                down = [cr.config.camera_id for cr in self.cameras if not cr.first_frame_done]
                if down:
                    log.warning("cameras without frames at start: %s", ", ".join(down))
                self.notifier.ready(self._status_line(now))
                ready_sent = True
            if now >= next_status:
                self.notifier.status(self._status_line(now))
                next_status = now + STATUS_EVERY_S
            if now >= next_hb:
                self._heartbeat(now)
                next_hb = now + self.cfg.heartbeat_s
            if not got_frame:
                time.sleep(0.01)
        return self._shutdown()

    def _process(self, cr: CameraRuntime, frame: Frame, detector: Lookahead) -> None:
        assert cr.pipe is not None
        inferred = cr.pipe.stats.inferred
        res = cr.pipe.process(frame)
        detector.forget(frame.image)
        cr.busy = cr.pipe.stats.inferred > inferred
        self._emit(res.messages)
        cr.processed.append(time.monotonic())
        if not cr.first_frame_done:
            cr.first_frame_done = True
            log.info("camera %s: first frame processed (%dx%d), %.2f s after start",
                     cr.config.camera_id, frame.image.shape[1], frame.image.shape[0],
                     process_age_s(), extra={"camera": cr.config.camera_id})  # fmt: skip

    def _shutdown(self) -> int:
        self.notifier.stopping()
        log.info("stopping: closing open visits")
        for cr in self.cameras:
            cr.source.close()
            if cr.pipe is not None:
                self._emit(cr.pipe.finish())
        delivered = True
        for out in self.outputs:
            delivered = out.close(STOP_DRAIN_S) and delivered
        if not delivered:
            log.warning("stopped with unconfirmed events kept in the outbox")
        log.info("stopped")
        return 0


def run_service(
    config_path: str,
    no_mqtt: bool = False,
    events_out: str | None = None,
    log_format: str | None = None,
    log_level: str = "INFO",
) -> int:
    cfg = load_config(config_path)
    setup_logging(log_format or cfg.log_format, log_level)
    outputs = build_outputs(cfg, events_out, mqtt=not no_mqtt, version=__version__)
    return EdgeService(config_path, cfg, outputs).run()
