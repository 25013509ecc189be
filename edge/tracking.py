"""Person tracking: Ultralytics' trackers over our ``Detections``, with colour appearance.

``PersonTracker`` wraps one of Ultralytics' multi-object trackers (ByteTrack, BoT-SORT,
OC-SORT, Deep OC-SORT): their Kalman prediction, observation-centric recovery and
two-stage matching are kept as they are. What we add is the appearance they use for
re-identification: instead of a ReID network (none ships offline here), each detection
gets the colour descriptor of ``edge.appearance``, passed in as the tracker's
per-detection features (``model: auto``). ``track_buffer`` is set in seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edge.appearance import describe
from edge.config import ModelConfig
from edge.detector import LOW_CONF, Detections, Track

TRACKERS = ("bytetrack", "botsort", "ocsort", "deepocsort")


class _BoxesView:
    """What the trackers read from a detection set: conf, cls, xywh, boolean indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls
        wh = xyxy[:, 2:4] - xyxy[:, 0:2]
        self.xywh = np.concatenate([xyxy[:, 0:2] + wh / 2, wh], axis=1)

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, idx: np.ndarray) -> _BoxesView:
        return _BoxesView(self.xyxy[idx], self.conf[idx], self.cls[idx])


def tracker_args(
    cfg: ModelConfig, process_fps: float, track_conf: float | None = None
) -> dict[str, Any]:
    """The Ultralytics tracker settings for a model config (thresholds, buffer in frames)."""
    conf = track_conf if track_conf is not None else cfg.conf
    return {
        "tracker_type": cfg.tracker,
        "track_high_thresh": conf,
        "track_low_thresh": min(LOW_CONF, conf),
        "new_track_thresh": max(conf, 0.3) if track_conf is None else conf,
        "track_buffer": max(1, round(cfg.track_buffer_s * process_fps)),
        "match_thresh": 0.8,
        "fuse_score": True,
        # OC-SORT family: velocity direction over 3 observations; keep ByteTrack's
        # low-confidence second stage (tracks survive partial occlusion)
        "delta_t": 3,
        "inertia": 0.2,
        "use_byte": True,
        # a fixed camera: no global motion compensation (it costs ~5 ms a frame)
        "gmc_method": "none",
        # appearance: a detection may take over a track by colour only where their boxes
        # overlap at least this much (IoU), and only when the colours are this similar
        "proximity_thresh": 0.3,
        "appearance_thresh": cfg.appearance_similarity,
        "alpha_fixed_emb": 0.9,
        "with_reid": cfg.appearance and cfg.tracker in ("botsort", "deepocsort"),
        "model": "auto",
    }


def _tracker_class(name: str) -> type[Any]:
    if name == "bytetrack":
        from ultralytics.trackers.byte_tracker import BYTETracker

        return BYTETracker
    if name == "botsort":
        from ultralytics.trackers.bot_sort import BOTSORT

        return BOTSORT
    if name == "ocsort":
        from ultralytics.trackers.oc_sort import OCSORT

        return OCSORT
    from ultralytics.trackers.deep_oc_sort import DeepOCSORT

    return DeepOCSORT


class PersonTracker:
    """One camera's tracker: ``update(dets, image)`` -> tracks with stable ids."""

    def __init__(
        self, cfg: ModelConfig, process_fps: float, track_conf: float | None = None
    ) -> None:
        from ultralytics.utils import IterableSimpleNamespace

        args = tracker_args(cfg, process_fps, track_conf)
        self.appearance = bool(args["with_reid"])
        self._tracker = _tracker_class(cfg.tracker)(IterableSimpleNamespace(**args))

    @property
    def has_tracks(self) -> bool:
        t = self._tracker
        return bool(t.tracked_stracks or t.lost_stracks)

    def update(self, dets: Detections, image: np.ndarray | None = None) -> list[Track]:
        view = _BoxesView(dets.xyxy, dets.conf, dets.cls)
        if image is not None and dets.appearance is None:
            dets.appearance = describe(image, dets.xyxy)
        feats = dets.appearance if self.appearance else None
        rows = self._tracker.update(view, image, feats=feats)
        tracks: list[Track] = []
        for row in rows:
            x1, y1, x2, y2, tid, score, _cls, idx = row[:8]
            i = int(idx)
            kp = dets.keypoints[i] if dets.keypoints is not None else None
            app = dets.appearance[i] if dets.appearance is not None else None
            tracks.append(Track(int(tid), (float(x1), float(y1), float(x2), float(y2)),
                                float(score), kp, app))  # fmt: skip
        return tracks
