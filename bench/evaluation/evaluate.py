"""Evaluate one clip: truth per zone, then each system's visits, recall and identities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from evaluation.clips import Clip
from evaluation.detection import recall_by_height
from evaluation.identity import identity_scores
from evaluation.matching import ZoneScore, score_zone
from evaluation.runners import FrameTracks, run_cli, run_naive, run_pipeline_frames
from evaluation.visits import KINDS, Span, track_visits, true_visits

PIPELINE = "exteros"
NAIVE = "naive-yolo"
COMPETENT = "yolo-ov-stride2"


def truth_of(clip: Clip) -> dict[str, list[Span]]:
    return {z.location: true_visits(clip.boxes, z.inside, clip.info.fps, z.rules)
            for z in clip.zones}  # fmt: skip


def naive_spans(clip: Clip, ft: FrameTracks) -> dict[str, list[Span]]:
    rows = [(ft.times[f], tid, ((b[0] + b[2]) / 2.0, b[3]))
            for f in ft.frames for tid, b in ft.tracks[f]]  # fmt: skip
    return {z.location: track_visits(rows, z.inside, z.rules) for z in clip.zones}


def frame_metrics(clip: Clip, ft: FrameTracks, identity: bool = True) -> dict:
    gt = clip.gt_by_frame
    boxes = {f: [b for _, b in ft.tracks[f]] for f in ft.frames}
    out: dict = {"recall": recall_by_height(gt, boxes, ft.frames),
                 "frames_run": len(ft.frames), "wall_s": round(ft.wall_s, 1)}  # fmt: skip
    if identity:
        out["identity"] = identity_scores(gt, ft.tracks, ft.frames)
    return out


def time_check(clip: Clip, ft: FrameTracks, tol_s: float = 0.02) -> str | None:
    """The pipeline's clock must be the gt's (frame k at (k-1)/fps) or matching is off."""
    worst = max((abs(ft.times[f] - (f - 1) / clip.info.fps), f) for f in ft.frames)
    if worst[0] > tol_s:
        return (
            f"frame {worst[1]} is stamped {ft.times[worst[1]]:.3f} s, gt says "
            f"{(worst[1] - 1) / clip.info.fps:.3f} s"
        )
    return None


def evaluate_clip(
    clip: Clip,
    naive_weights: Path | None = None,
    competent_weights: Path | None = None,
    overrides: Mapping[str, str] | None = None,
    frames: bool = True,
) -> dict:
    """Everything the table shows for one clip, as a JSON-ready dict (+ ``score_objs``)."""
    truth = truth_of(clip)
    result: dict = {
        "clip": clip.name,
        "info": {
            "width": clip.info.width,
            "height": clip.info.height,
            "fps": clip.info.fps,
            "duration_s": clip.info.length / clip.info.fps,
        },  # fmt: skip
        "zones": {},
        "systems": {},
        "score_objs": {},
    }
    spans: dict[str, dict[str, list[Span]]] = {}
    counts: dict[str, dict[str, dict[str, int]] | None] = {}
    cli = run_cli(clip.video, clip.config, overrides)
    spans[PIPELINE] = {z.location: cli.visits.get(z.location, []) for z in clip.zones}
    counts[PIPELINE] = {z.location: dict(cli.counts[z.location]) for z in clip.zones}
    result["systems"][PIPELINE] = {"cli_wall_s": round(cli.wall_s, 1)}
    if frames:
        ft = run_pipeline_frames(clip.video, clip.config, overrides)
        result["systems"][PIPELINE] |= frame_metrics(clip, ft)
        bad = time_check(clip, ft)
        if bad:
            result["systems"][PIPELINE]["time_warning"] = bad
    if naive_weights is not None:
        nt = run_naive(clip.video, naive_weights, clip.info.fps)
        spans[NAIVE] = naive_spans(clip, nt)
        counts[NAIVE] = None
        result["systems"][NAIVE] = frame_metrics(clip, nt)
    if competent_weights is not None:
        # a competent user: the OpenVINO export at the pipeline's input size, every 2nd frame
        ct = run_naive(clip.video, competent_weights, clip.info.fps, stride=2, imgsz=(384, 640))
        spans[COMPETENT] = naive_spans(clip, ct)
        counts[COMPETENT] = None
        result["systems"][COMPETENT] = frame_metrics(clip, ct)
    total_truth = ZoneScore.empty()
    totals = {s: ZoneScore.empty() for s in spans}
    for z in clip.zones:
        loc = z.location
        tv = truth[loc]
        entry: dict = {"truth": [_span(s) for s in tv]}
        for sysname, by_loc in spans.items():
            sc = score_zone(tv, by_loc[loc])
            if counts[sysname] is not None:  # the pipeline's counts are its events
                sc.pred_counts = {k: counts[sysname][loc].get(k, 0) for k in KINDS}
            sc.notes = [f"{loc}: {n}" for n in sc.notes]
            entry[sysname] = sc.summary() | {"visits": [_span(s) for s in by_loc[loc]]}
            totals[sysname] = totals[sysname] + sc
            if sysname == PIPELINE:
                total_truth = total_truth + sc
        entry["truth_counts"] = entry[PIPELINE]["true_counts"]
        result["zones"][loc] = entry
    for sysname, sc in totals.items():
        result["systems"][sysname]["visits"] = sc.summary()
        result["score_objs"][sysname] = sc
    result["score_objs"]["truth"] = total_truth
    return result


def _span(s: Span) -> dict:
    return {"who": s.label, "start_s": round(s.start, 3), "end_s": round(s.end, 3),
            "dwell_s": round(s.dwell, 3), "kinds": list(s.kinds)}  # fmt: skip


def systems_of(results: Sequence[dict]) -> list[str]:
    return [s for s in (PIPELINE, NAIVE, COMPETENT) if all(s in r["systems"] for r in results)]
