"""Person tracking without torch: Roboflow's ``trackers`` library behind one small seam.

A ``Tracker`` turns each frame's ``Detections`` into ``Track``s with ids that stay with a
person. ``make_tracker`` builds one from the model config: ``bytetrack`` (the default),
``botsort`` and ``ocsort`` are the library's trackers (Kalman prediction, two-stage
matching with low-confidence boxes, observation-centric recovery), run on the frames the
model sees, with ``track_buffer_s`` turned into frames. The library's BoT-SORT matches on
boxes only; ``ColourBoTSORT`` adds the two parts of the original BoT-SORT it lacks: a
lost track keeps its size while predicted, and appearance, here the clothes colours of
``edge.appearance`` instead of a ReID network.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Protocol

import numpy as np
import supervision as sv
from trackers import BoTSORTTracker, ByteTrackTracker, OCSORTTracker
from trackers.core.base import BaseTracker
from trackers.core.botsort.tracklet import BoTSORTTracklet
from trackers.utils.state_representations import XCYCWHStateEstimator

from edge.appearance import describe
from edge.config import ModelConfig
from edge.detector import Detections, Track

log = logging.getLogger(__name__)

TRACKERS = ("bytetrack", "botsort", "ocsort", "deepocsort")
# A detection may continue a track by colour only where their boxes overlap at least this
# much (IoU): colour never links people across the frame.
PROXIMITY_IOU = 0.3
# A track's colour follows its person slowly: each matched box adds this share.
COLOUR_UPDATE = 0.1
MIN_NEW_TRACK_CONF = 0.3  # a track starts from a box this confident (or the camera's track_conf)


class Tracker(Protocol):
    """One camera's tracker: ``update(dets, image)`` -> tracks with stable ids."""

    @property
    def has_tracks(self) -> bool:
        """True while any track is alive (followed or briefly lost)."""
        ...

    def update(self, dets: Detections, image: np.ndarray | None = None) -> list[Track]:
        """The tracks this frame's detections continue or start (confirmed ones only)."""
        ...


class _ColourState(XCYCWHStateEstimator):
    """BoT-SORT's box Kalman state, plus the box it last measured and the person's colours."""

    def __init__(self, bbox: np.ndarray) -> None:
        super().__init__(bbox)
        self.measured = bbox
        self.colour: np.ndarray | None = None  # running unit descriptor
        self.missed = 0  # predictions since the last measured box

    def predict(self, frame_step: float = 1.0, frame_rate: float | None = None) -> None:
        if self.missed:  # lost: keep its size (BoT-SORT stops the size velocity)
            self.kf.state[6:8] = 0.0
        super().predict(frame_step, frame_rate)
        self.missed += 1

    def update(self, bbox: np.ndarray | None) -> None:
        super().update(bbox)
        if bbox is not None:
            self.measured = bbox
            self.missed = 0


def _unit(v: np.ndarray) -> np.ndarray | None:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else None


def _follow(running: np.ndarray | None, seen: np.ndarray) -> np.ndarray | None:
    """A track's running colour after one more matched box (exponential average)."""
    if running is None:
        return seen
    return _unit((1 - COLOUR_UPDATE) * running + COLOUR_UPDATE * seen)


class ColourBoTSORT(BoTSORTTracker):
    """The library's BoT-SORT, with BoT-SORT's lost-track sizes and colour appearance.

    A track not matched in the previous frame is predicted without size change (its size
    velocity is zeroed), so a person found again still overlaps it. With ``similarity``
    set (None: boxes only), where confident detections are matched (the first stage and
    unconfirmed tracks), a pair whose boxes overlap at least ``proximity`` (IoU) and whose
    colour similarity ``(1 + cos) / 2`` is at least ``similarity`` scores the larger of
    their confidence-weighted IoU and that similarity (BoT-SORT's IoU/ReID fusion).
    """

    # not offered in the library's own CLI and tuner (they read these class attributes)
    tracker_id = None  # type: ignore[assignment]
    search_space: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, *, similarity: float | None, proximity: float = PROXIMITY_IOU,
                 lost_track_buffer: int, track_activation_threshold: float,
                 high_conf_det_threshold: float) -> None:  # fmt: skip
        super().__init__(
            lost_track_buffer=lost_track_buffer,
            frame_rate=30.0,  # the buffer is already in our frames (the library's unit is 1/30 s)
            track_activation_threshold=track_activation_threshold,
            high_conf_det_threshold=high_conf_det_threshold,
            enable_cmc=False,  # a fixed camera: no global motion to compensate
            state_estimator_class=_ColourState,
        )
        self.similarity = similarity
        self.proximity = proximity
        self._colours: dict[bytes, tuple[np.ndarray, float]] = {}

    def update_with_colours(
        self, detections: sv.Detections, colours: np.ndarray | None
    ) -> sv.Detections:
        """``update`` with one colour descriptor per detection (None: boxes only)."""
        self._colours = {}
        if colours is not None and self.similarity is not None:
            conf = detections.confidence
            for i, box in enumerate(detections.xyxy):
                unit = _unit(colours[i].astype(np.float64))
                if unit is not None and conf is not None:
                    self._colours[box.tobytes()] = (unit, float(conf[i]))
        out = super().update(detections)
        for t in self.tracks:  # each track matched now follows its person's colours
            state = t.state_estimator
            if t.time_since_update == 0 and isinstance(state, _ColourState):
                seen = self._colours.get(np.asarray(state.measured).tobytes())
                if seen is not None:
                    state.colour = _follow(state.colour, seen[0])
        self._colours = {}  # a plain update() matches on boxes only
        return out

    def _get_iou_matrix(
        self,
        tracklets: list[BoTSORTTracklet],
        detections: np.ndarray,
        tracklet_boxes_by_id: dict[int, np.ndarray],
    ) -> np.ndarray:
        iou = np.asarray(super()._get_iou_matrix(tracklets, detections, tracklet_boxes_by_id),
                         dtype=np.float64)  # fmt: skip
        if not self._colours or iou.size == 0 or self.similarity is None:
            return iou
        rows, known = [], []  # tracks with a running colour
        for i, t in enumerate(tracklets):
            state = t.state_estimator
            if isinstance(state, _ColourState) and state.colour is not None:
                rows.append(i)
                known.append(state.colour)
        cols, seen = [], []  # confident detections with colours (low ones: overlap only)
        for j, box in enumerate(detections):
            entry = self._colours.get(box.tobytes())
            if entry is not None and entry[1] >= self.high_conf_det_threshold:
                cols.append(j)
                seen.append(entry)
        if not rows or not cols:
            return iou
        alike = (1.0 + np.stack(known) @ np.stack([c for c, _ in seen]).T) / 2.0
        conf = np.array([max(c, 1e-6) for _, c in seen])
        cell = np.ix_(rows, cols)
        overlap = iou[cell]
        use = (overlap >= self.proximity) & (alike >= self.similarity)
        # the library multiplies this matrix by each detection's confidence next
        iou[cell] = np.where(use, np.maximum(overlap, alike / conf), overlap)
        return iou


class FirstFrameByteTrack(ByteTrackTracker):
    """The library's ByteTrack with BoT-SORT's first-frame activation: people in view on
    the first frame get their ids on it (later a new track shows from its second box), so
    a visit of someone standing there when the camera starts dwells from that frame."""

    tracker_id = None  # type: ignore[assignment]  # not offered in the library's CLI/tuner
    search_space: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._updates = 0

    def update(
        self, detections: sv.Detections, frame: np.ndarray | None = None,
        timestamp: float | None = None,
    ) -> sv.Detections:  # fmt: skip
        self._updates += 1
        return super().update(detections, frame, timestamp)

    def _spawn_new_tracks(
        self, detection_boxes: np.ndarray, confidences: np.ndarray,
        unmatched_high_local: list[int], high_indices: np.ndarray,
        out_det_indices: list[int], out_tracker_ids: list[int],
    ) -> None:  # fmt: skip
        before, first_out = len(self.tracks), len(out_tracker_ids)
        super()._spawn_new_tracks(detection_boxes, confidences, unmatched_high_local,
                                  high_indices, out_det_indices, out_tracker_ids)  # fmt: skip
        if self._updates != 1:
            return
        spawned = iter(self.tracks[before:])  # one per detection at the activation threshold
        for k, local in enumerate(unmatched_high_local):
            if float(confidences[int(high_indices[local])]) >= self.track_activation_threshold:
                track = next(spawned)
                track.tracker_id = self._allocate_tracker_id()
                out_tracker_ids[first_out + k] = track.tracker_id


class LibraryTracker:
    """A ``trackers`` tracker over our ``Detections``: 1-based ids, Kalman-smoothed boxes."""

    def __init__(self, tracker: BaseTracker) -> None:
        self._tracker = tracker

    @property
    def has_tracks(self) -> bool:
        return bool(self._tracker.tracks)

    def update(self, dets: Detections, image: np.ndarray | None = None) -> list[Track]:
        if image is not None and dets.appearance is None:
            dets.appearance = describe(image, dets.xyxy)
        n = len(dets)
        sv_dets = sv.Detections(
            xyxy=np.asarray(dets.xyxy, np.float32).reshape(n, 4),
            confidence=np.asarray(dets.conf, np.float32),
            class_id=np.asarray(dets.cls).astype(int),
            data={"index": np.arange(n)},
        )
        if isinstance(self._tracker, ColourBoTSORT):
            out = self._tracker.update_with_colours(sv_dets, dets.appearance)
        else:
            out = self._tracker.update(sv_dets)
        if out.tracker_id is None or len(out) == 0:
            return []
        alive = {t.tracker_id: t for t in self._tracker.tracks}
        tracks: list[Track] = []
        for tid, idx in zip(out.tracker_id, out.data["index"], strict=True):
            if tid < 0:
                continue  # not confirmed yet (a new track shows from its second box)
            i = int(idx)
            tracklet = alive.get(int(tid))
            box = tracklet.get_state_bbox() if tracklet is not None else dets.xyxy[i]
            x1, y1, x2, y2 = (float(v) for v in box[:4])
            kp = dets.keypoints[i] if dets.keypoints is not None else None
            app = dets.appearance[i] if dets.appearance is not None else None
            tracks.append(Track(int(tid) + 1, (x1, y1, x2, y2), float(dets.conf[i]), kp, app))
        return tracks


def buffer_frames(track_buffer_s: float, process_fps: float) -> int:
    """How many processed frames a lost track is kept."""
    return max(1, round(track_buffer_s * process_fps))


def make_tracker(cfg: ModelConfig, process_fps: float, track_conf: float | None = None) -> Tracker:
    """The tracker ``cfg.tracker`` names, at the rate the model runs (``process_fps``).

    Boxes at ``track_conf`` (default ``cfg.conf``) or above are matched first and may start
    a track (from 0.3 up unless the camera sets ``track_conf``); boxes down to the
    detector's low floor only continue a track.
    """
    conf = track_conf if track_conf is not None else cfg.conf
    start = max(conf, MIN_NEW_TRACK_CONF) if track_conf is None else conf
    frames = buffer_frames(cfg.track_buffer_s, process_fps)
    name = cfg.tracker
    if name == "deepocsort":  # Deep OC-SORT needs a ReID network; the library has none
        log.warning("model.tracker deepocsort is not available without torch: using ocsort")
        name = "ocsort"
    tracker: BaseTracker
    if name == "botsort":
        tracker = ColourBoTSORT(similarity=cfg.appearance_similarity if cfg.appearance else None,
                                lost_track_buffer=frames, track_activation_threshold=start,
                                high_conf_det_threshold=conf)  # fmt: skip
    elif name == "bytetrack":
        tracker = FirstFrameByteTrack(lost_track_buffer=frames, frame_rate=30.0,
                                      track_activation_threshold=start,
                                      high_conf_det_threshold=conf)  # fmt: skip
    elif name == "ocsort":
        tracker = OCSORTTracker(lost_track_buffer=frames, frame_rate=30.0,
                                high_conf_det_threshold=conf,
                                minimum_consecutive_frames=2)  # fmt: skip
    else:
        raise ValueError(f"model.tracker: unknown tracker {cfg.tracker!r} (one of {TRACKERS})")
    return LibraryTracker(tracker)
