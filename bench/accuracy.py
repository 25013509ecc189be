"""Real-footage accuracy: Exteros vs a naive Ultralytics loop on labelled real clips.

    .venv/bin/python bench/accuracy.py [--clips DIR] [--json OUT] [--set model.imgsz=[480,640]]

For every ``NAME.gt.txt`` in the realclips folder (default ../shared/data/realclips, or
$EXTEROS_REALCLIPS) and its zones in bench/realclips/NAME.yaml: derive the true visits from the
ground truth, replay the clip through ``exteros-edge replay`` (the real CLI), match visits by
time, and print counts, dwell errors, merges and splits, detection recall by person height and
identity metrics (IDF1, HOTA), with the naive baseline in the next column.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Ultralytics logs model loading to stdout; the table is the only thing that goes there.
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("YOLO_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluation.clips import CONFIGS, REPO, ClipsError, default_clips_dir, find_clips  # noqa: E402
from evaluation.evaluate import evaluate_clip, systems_of  # noqa: E402
from evaluation.gt import GtError  # noqa: E402
from evaluation.report import clip_table, overall_table  # noqa: E402
from evaluation.runners import EXE, RunError  # noqa: E402

NAIVE_WEIGHTS = REPO / "models" / "yolo11n-pose.pt"
COMPETENT_WEIGHTS = REPO / "models" / "yolo11n-pose_openvino_model"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=Path, help="realclips folder (default: ../shared/data/"
                   "realclips, or $EXTEROS_REALCLIPS)")  # fmt: skip
    p.add_argument("--configs", type=Path, default=CONFIGS, help="folder of NAME.yaml zone configs")
    p.add_argument("--only", action="append", help="evaluate only this clip (repeatable)")
    p.add_argument("--json", type=Path, help="also write every number here")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an edge config key for the pipeline, e.g. model.imgsz=[480,640] "
                   "(passed as EXTEROS_MODEL__IMGSZ)")  # fmt: skip
    p.add_argument("--no-naive", action="store_true", help="skip the naive Ultralytics baseline")
    p.add_argument("--naive-weights", type=Path, default=NAIVE_WEIGHTS,
                   help="naive baseline weights (default models/yolo11n-pose.pt)")  # fmt: skip
    p.add_argument(
        "--no-competent",
        action="store_true",
        help="skip the competent baseline (OpenVINO export, every 2nd frame)",
    )
    p.add_argument("--visits-only", action="store_true",
                   help="only the CLI replay and visit scores (no per-frame metrics)")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    overrides: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"accuracy: --set wants KEY=VALUE, got {item!r}", file=sys.stderr)
            return 2
        overrides[key] = value
    if not EXE.is_file():
        print(f"accuracy: {EXE} not found; run `make setup` first", file=sys.stderr)
        return 2
    naive = None if args.no_naive else args.naive_weights
    if naive is not None and not naive.is_file():
        print(
            f"accuracy: naive weights not found: {naive} "
            "(`exteros-edge models fetch yolo11n-pose.pt`, or --no-naive)",
            file=sys.stderr,
        )
        return 2
    competent = None if args.no_competent else COMPETENT_WEIGHTS
    if competent is not None and not (competent / "metadata.yaml").is_file():
        print(
            f"accuracy: {competent} not found (`make models`, or --no-competent)", file=sys.stderr
        )
        return 2
    try:
        clips = find_clips(args.clips or default_clips_dir(), args.configs, args.only)
        results = []
        for clip in clips:
            print(f"evaluating {clip.name} ...", file=sys.stderr, flush=True)
            results.append(
                evaluate_clip(clip, naive, competent, overrides, frames=not args.visits_only)
            )
    except (ClipsError, GtError, RunError) as exc:
        print(f"accuracy: {exc}", file=sys.stderr)
        return 2
    systems = systems_of(results)
    if overrides:
        print("config overrides: " + ", ".join(f"{k}={v}" for k, v in overrides.items()))
    for r in results:
        print(clip_table(r, systems))
        print()
    print(overall_table(results, systems))
    if args.json:
        doc = {"overrides": overrides, "clips": [{k: v for k, v in r.items() if k != "score_objs"}
                                                 for r in results]}  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
