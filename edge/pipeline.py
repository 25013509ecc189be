"""The frame loop of one camera: detect -> track -> visits per zone -> contract messages.

With ``store:`` set, the camera's store is one more location whose floor is the union of
its zones (``StoreRuntime``): a person walking from one zone to another is one store visit.

``CameraPipeline.process`` takes one frame (image + its clock time) and returns
the messages it produced; it does no I/O. ``replay`` drives it over a video file
as fast as the machine allows, with the file's own clock.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

import numpy as np

from edge.config import CameraConfig, EdgeConfig, ZoneConfig
from edge.detector import Detector, Track
from edge.events import EventFactory
from edge.geometry import PixelPolygon, clamp_point
from edge.hands import inside_or_near, rules_from_config, visible_hands
from edge.inputsize import as_hw, auto_input_size, smallest_person_px
from edge.motion import MotionGate
from edge.outputs import Message
from edge.sources import Frame
from edge.visits import (
    Change,
    Inside,
    LocationVisits,
    Near,
    Observation,
    Rules,
    union_inside,
    union_rules,
)
from exteros.contract import KIND_ORDER, Event, EventKind, VisitSummary

log = logging.getLogger(__name__)


def stride_for(source_fps: float, process_fps: float) -> int:
    """Process every n-th frame so that about ``process_fps`` frames/s reach the model."""
    if process_fps <= 0 or source_fps <= process_fps:
        return 1
    return max(1, round(source_fps / process_fps))


def input_size_for(
    cfg: EdgeConfig, camera: CameraConfig, width: int, height: int
) -> tuple[int, int]:
    """The model input (height, width) for this camera's frames: fixed, or derived from
    the frame size and the camera's ``min_person_px`` (edge.inputsize)."""
    if cfg.model.imgsz != "auto":
        return as_hw(cfg.model.imgsz)
    return auto_input_size(width, height, camera.min_person_px, cfg.model.max_imgsz)


def rules_of(zone: ZoneConfig) -> Rules:
    return Rules(
        confirm_s=zone.confirm_s,
        discovery_s=zone.discovery_s,
        engagement_s=zone.engagement_s,
        exit_grace_s=zone.exit_grace_s,
        interaction_s=zone.interaction_s,
    )


def _touch_tests(areas: list[PixelPolygon]) -> list[partial[bool]]:
    """Per product area: (x, y, tol) -> a hand inside it or within tol pixels of it."""
    return [partial(inside_or_near, a.contour) for a in areas]


@dataclass
class ZoneRuntime:
    """A zone turned into pixels for one frame size, with its open visits."""

    config: ZoneConfig
    polygon: PixelPolygon
    product_areas: list[PixelPolygon]
    visits: LocationVisits

    @classmethod
    def build(cls, zone: ZoneConfig, width: int, height: int) -> ZoneRuntime:
        poly = PixelPolygon(zone.polygon, width, height)
        areas = [PixelPolygon(a, width, height) for a in zone.product_areas]
        visits = LocationVisits(rules_of(zone), poly.contains, _touch_tests(areas))
        return cls(zone, poly, areas, visits)

    def reconfigure(self, zone: ZoneConfig, width: int, height: int) -> None:
        self.config = zone
        self.polygon = PixelPolygon(zone.polygon, width, height)
        self.product_areas = [PixelPolygon(a, width, height) for a in zone.product_areas]
        self.visits.reconfigure(rules_of(zone), self.polygon.contains,
                                _touch_tests(self.product_areas))  # fmt: skip


@dataclass
class StoreRuntime:
    """The camera's store: a location whose floor and product areas are its zones' union."""

    location: str
    visits: LocationVisits

    @staticmethod
    def _parts(zones: list[ZoneRuntime]) -> tuple[Rules, Inside, list[Near]]:
        rules = union_rules([rules_of(zr.config) for zr in zones])
        inside = union_inside([zr.polygon.contains for zr in zones])
        return rules, inside, [t for zr in zones for t in _touch_tests(zr.product_areas)]

    @classmethod
    def build(cls, location: str, zones: list[ZoneRuntime]) -> StoreRuntime:
        return cls(location, LocationVisits(*cls._parts(zones)))

    def reconfigure(self, zones: list[ZoneRuntime]) -> None:
        """The zones changed (reload, new resolution): open store visits are kept."""
        self.visits.reconfigure(*self._parts(zones))


@dataclass
class CameraStats:
    frames: int = 0  # frames handed to process()
    inferred: int = 0  # frames the model ran on
    skipped_still: int = 0  # frames skipped by the motion gate
    counts: dict[str, dict[EventKind, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(KIND_ORDER, 0))
    )
    dwells: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def record(self, msg: Message) -> None:
        if isinstance(msg, Event):
            self.counts[msg.location][msg.kind] += 1
        elif isinstance(msg, VisitSummary):
            self.dwells[msg.location].append(msg.dwell_s)

    def table(self, locations: Iterable[str]) -> list[tuple[str, int, int, int, int, float | None]]:
        rows = []
        for loc in locations:
            c = self.counts[loc]
            d = self.dwells.get(loc) or []
            rows.append((loc, c[EventKind.impression], c[EventKind.discovery],
                         c[EventKind.engagement], c[EventKind.interaction],
                         statistics.median(d) if d else None))  # fmt: skip
        return rows


@dataclass
class FrameResult:
    """What one processed frame produced, for outputs and the annotator."""

    frame: Frame
    tracks: list[Track]
    messages: list[Message]


class CameraPipeline:
    def __init__(
        self,
        cfg: EdgeConfig,
        camera: CameraConfig,
        detector: Detector,
        process_fps: float,
        base: datetime,
    ) -> None:
        self.cfg = cfg
        self.camera = camera
        self.detector = detector
        # imported here: the tracker's libraries take ~0.5 s to import, which replay
        # overlaps with compiling the model (edge.replay.warm_in_background)
        from edge.tracking import PersonTracker

        self.tracker = PersonTracker(cfg.model, process_fps, camera.track_conf)
        self.factory = EventFactory(cfg.device_id, camera.camera_id, base)
        self.motion = MotionGate(cfg.model.motion_threshold) if cfg.model.motion_skip else None
        self.zones: list[ZoneRuntime] = []
        self.size: tuple[int, int] | None = None
        self.imgsz: tuple[int, int] | None = None  # model input for this camera's frames
        self.hand_rules = rules_from_config(cfg.model)
        self.stats = CameraStats()
        self._last_dets = 0
        self.store: StoreRuntime | None = None
        # visits of locations a reload dropped: closed on the next frame
        self._removed: list[tuple[str, LocationVisits]] = []

    def _ensure_zones(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        if self.size == (w, h):
            return
        if self.size is None:
            self.zones = [ZoneRuntime.build(z, w, h) for z in self.camera.zones]
            store = self.camera.counted_store
            self.store = StoreRuntime.build(store, self.zones) if store else None
        else:  # the stream changed resolution: same relative zones, new pixels
            for zr in self.zones:
                zr.reconfigure(zr.config, w, h)
            if self.store is not None:
                self.store.reconfigure(self.zones)
        self.size = (w, h)
        self._plan_input(w, h)

    def _plan_input(self, w: int, h: int) -> None:
        self.imgsz = input_size_for(self.cfg, self.camera, w, h)
        smallest = smallest_person_px(w, h, self.imgsz)
        log.info("camera %s: %dx%d frames, model input %dx%d, people from ~%.0f px tall",
                 self.camera.camera_id, w, h, self.imgsz[0], self.imgsz[1], smallest)  # fmt: skip
        if self.cfg.model.imgsz == "auto" and smallest > self.camera.min_person_px * 1.05:
            log.warning(
                "camera %s: min_person_px %.0f needs a larger model input than max_imgsz "
                "%d allows; people under ~%.0f px tall may be missed (raise model.max_imgsz "
                "at a higher cost, or mount the camera closer)",
                self.camera.camera_id, self.camera.min_person_px, self.cfg.model.max_imgsz,
                smallest,
            )  # fmt: skip

    def reconfigure(self, camera: CameraConfig) -> None:
        """Apply a reloaded config: changed zones apply to new visits; open visits stay."""
        self.camera = camera
        if self.size is None:
            return
        w, h = self.size
        self._plan_input(w, h)
        old = {zr.config.location: zr for zr in self.zones}
        new: list[ZoneRuntime] = []
        for z in camera.zones:
            if z.location in old:
                zr = old.pop(z.location)
                zr.reconfigure(z, w, h)
                new.append(zr)
            else:
                new.append(ZoneRuntime.build(z, w, h))
        self._removed = [(loc, zr.visits) for loc, zr in old.items()]
        self.zones = new
        store = camera.counted_store
        if self.store is not None and self.store.location == store:
            self.store.reconfigure(new)  # the same store: its open visits go on
        else:
            if self.store is not None:
                self._removed.append((self.store.location, self.store.visits))
            self.store = StoreRuntime.build(store, new) if store else None

    def _observations(self, tracks: list[Track]) -> list[Observation]:
        w, h = self.size or (0, 0)
        view = self.camera.view
        out = []
        for tr in tracks:
            hands = visible_hands(tr.keypoints, tr.xyxy, self.hand_rules).hands
            out.append(Observation(tr.track_id, clamp_point(*tr.ground(view), w, h), tr.height,
                                   tr.conf, tuple((hd.x, hd.y) for hd in hands), tr.appearance,
                                   hand_tol=hands[0].tol if hands else 0.0))  # fmt: skip
        return out

    def _locations(self) -> list[tuple[str, LocationVisits]]:
        """The zones' visits, then the store's: the order their messages come in."""
        out = [(zr.config.location, zr.visits) for zr in self.zones]
        if self.store is not None:
            out.append((self.store.location, self.store.visits))
        return out

    def _needs_inference(self, image: np.ndarray) -> bool:
        if self.motion is None:
            return True
        moved = self.motion.moved(image)
        busy = (self._last_dets or self.tracker.has_tracks
                or any(lv.open for _, lv in self._locations()))  # fmt: skip
        return bool(moved or busy)

    def process(self, frame: Frame) -> FrameResult:
        self._ensure_zones(frame.image)
        self.stats.frames += 1
        changes: list[tuple[str, Change]] = []
        for loc, lv in self._removed:
            changes += [(loc, c) for c in lv.close_all()]
        self._removed = []
        tracks: list[Track] = []
        if self._needs_inference(frame.image):
            dets = self.detector.detect(frame.image, self.imgsz)
            self._last_dets = int((dets.conf >= self.cfg.model.conf).sum())
            tracks = self.tracker.update(dets, frame.image)
            self.stats.inferred += 1
        else:
            self.stats.skipped_still += 1
        obs = self._observations(tracks)
        for loc, lv in self._locations():
            changes += [(loc, c) for c in lv.update(frame.t, obs)]
        return FrameResult(frame, tracks, self._messages(changes))

    def _messages(self, changes: list[tuple[str, Change]]) -> list[Message]:
        out: list[Message] = []
        for loc, change in changes:
            msg = self.factory.build(loc, change)
            self.stats.record(msg)
            out.append(msg)
        return out

    def finish(self) -> list[Message]:
        """Close every open visit (end of a replay, shutdown) and return their summaries."""
        changes: list[tuple[str, Change]] = []
        for loc, lv in self._removed + self._locations():
            changes += [(loc, c) for c in lv.close_all()]
        self._removed = []
        return self._messages(changes)

    def open_visits(self) -> int:
        """Open visits over the camera's locations (zones and store)."""
        return sum(len(lv.open) for _, lv in self._locations())
