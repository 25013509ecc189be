"""Scenario videos with ground truth for testing the edge pipeline.

Real photographs of people (cut out of images shipped in installed packages)
are composited onto a procedurally drawn shop and moved along scripted paths.
``generate`` writes, per scenario, an mp4 (1280x720, mp4v), the edge config
YAML that watches the scenario's zones, and a ground-truth JSON computed from
the scripted feet points and wrists (see ``truth.py`` and docs/scenarios.md
"Scenario videos with ground truth").

    exteros-edge scenario NAME|all --out DIR [--fps F] [--variant stall|fps10|fps25]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.scenarios.library import SCENARIOS
from edge.scenarios.spec import ScenarioSpec

__all__ = ["SCENARIOS", "VARIANTS", "ScenarioFiles", "generate", "load_truth", "main"]

GENERATOR_VERSION = 1
TRUTH_SCHEMA = "exteros.scenario-truth/1"
DEVICE_ID = "edge-test-01"
CAMERA_ID = "cam-1"
STALL_S = 1.5

# Variants of a scenario: a camera stall (the same frame repeated for STALL_S) or another
# frame rate. fps variants override ``fps``.
VARIANTS = {"stall": None, "fps10": 10.0, "fps25": 25.0}


@dataclass(frozen=True)
class ScenarioFiles:
    """The three files of one generated scenario."""

    name: str
    video: Path
    config: Path
    truth: Path


def load_truth(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ground-truth JSON written by ``generate``."""
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("schema") != TRUTH_SCHEMA:
        raise ValueError(f"{path}: not a scenario truth file (schema {data.get('schema')!r})")
    return data


def _stem(name: str, fps: float, variant: str | None) -> str:
    stem = name
    if variant:
        stem += f"-{variant}"
    elif fps != 15.0:
        stem += f"-{fps:g}fps"
    return stem


def _config_yaml(spec: ScenarioSpec, video: Path) -> str:
    import yaml

    from edge.scenarios.scene import to_rel

    zones = []
    for z in spec.zones:
        zone: dict[str, Any] = {"location": z.location, "polygon": to_rel(list(z.polygon))}
        if z.product_areas:
            zone["product_areas"] = [to_rel(list(a)) for a in z.product_areas]
        zones.append(zone)
    cam: dict[str, Any] = {"camera_id": CAMERA_ID, "source": str(video.resolve())}
    if spec.store:
        cam["store"] = spec.store  # every person in any zone is also a store visit
    data = {"device_id": DEVICE_ID, "cameras": [{**cam, "zones": zones}]}
    head = f"# Scenario {spec.name!r}: {spec.description}\n# Thresholds and model: defaults.\n"
    return head + yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def generate(
    name: str,
    out_dir: Path,
    *,
    fps: float = 15.0,
    seed: int = 0,
    variant: str | None = None,
) -> ScenarioFiles:
    """Write video, config and truth of scenario ``name`` into out_dir (cached by spec hash)."""
    if name not in SCENARIOS:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    if variant is not None and variant not in VARIANTS:
        raise KeyError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    spec = SCENARIOS[name]
    variant_fps = VARIANTS[variant] if variant else None
    if variant_fps:
        fps = variant_fps
    if variant == "stall" and spec.stall_at is None:
        raise ValueError(f"scenario {name!r} has no stop long enough for a stall variant")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _stem(name, fps, variant)
    files = ScenarioFiles(
        name, out_dir / f"{stem}.mp4", out_dir / f"{stem}.yaml", out_dir / f"{stem}.truth.json"
    )
    digest = spec.digest(fps=fps, seed=seed, variant=variant, version=GENERATOR_VERSION)
    if files.video.is_file() and files.config.is_file() and files.truth.is_file():
        try:
            if load_truth(files.truth).get("spec_hash") == digest:
                return files
        except (ValueError, OSError):
            pass
    _render(spec, files, fps=fps, seed=seed, variant=variant, digest=digest)
    return files


def _render(
    spec: ScenarioSpec, files: ScenarioFiles, *, fps: float, seed: int, variant: str | None,
    digest: str,
) -> None:  # fmt: skip
    import cv2

    from edge.scenarios import scene
    from edge.scenarios.render import Renderer
    from edge.scenarios.truth import compute_truth, frame_tracks

    renderer = Renderer(spec, seed)
    n = int(round(spec.duration_s * fps))
    stall = None
    if variant == "stall":
        assert spec.stall_at is not None
        first = int(round(spec.stall_at * fps))
        stall = (first, first + int(round(STALL_S * fps)))
    tmp = files.video.with_name(files.video.stem + f".{os.getpid()}.tmp.mp4")
    writer = cv2.VideoWriter(
        str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), fps, (scene.WIDTH, scene.HEIGHT)
    )
    if not writer.isOpened():
        raise RuntimeError(f"cannot open a video writer for {tmp}")
    records = []
    shown = []  # what the frame shows (differs from the script only while stalled)
    frozen = None
    try:
        for i in range(n):
            if stall and stall[0] < i < stall[1] and frozen is not None:
                # Camera stall: the previous picture again. The scene goes on (the person
                # stands still at this point of every stall_at), so the truth does not change.
                _, info = renderer.frame(i / fps, i)
                writer.write(frozen[0])
                records.append(info)
                shown.append(frozen[1])
                continue
            img, info = renderer.frame(i / fps, i)
            if stall and i == stall[0]:
                frozen = (img, info)
            writer.write(img)
            records.append(info)
            shown.append(info)
    finally:
        writer.release()
    truth = compute_truth(spec, records, fps)
    data: dict[str, Any] = {
        "schema": TRUTH_SCHEMA,
        "scenario": spec.name,
        "variant": variant,
        "description": spec.description,
        "spec_hash": digest,
        "seed": seed,
        "fps": fps,
        "width": scene.WIDTH,
        "height": scene.HEIGHT,
        **{k: truth.pop(k) for k in ("frames", "duration_s")},
        "video": files.video.name,
        "config": files.config.name,
        "device_id": DEVICE_ID,
        "camera_id": CAMERA_ID,
        "locations": {
            z.location: {
                "polygon": scene.to_rel(list(z.polygon)),
                "product_areas": [scene.to_rel(list(a)) for a in z.product_areas],
            }
            for z in spec.zones
        },
        "store": spec.store,
        **truth,
    }
    if stall:
        data["stall"] = {
            "from_frame": stall[0],
            "to_frame": stall[1] - 1,
            "note": "frames repeat the first one; the person stands still then, so visits and "
            "kinds are the same as without the stall (dwell counts frame time, which goes on)",
        }
    data["tracks"] = frame_tracks(shown)
    files.config.write_text(_config_yaml(spec, files.video), encoding="utf-8")
    files.truth.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, files.video)


def _job(job: tuple[str, Path, float, int, str | None]) -> tuple[str, ScenarioFiles, float]:
    name, out, fps, seed, variant = job
    t0 = time.monotonic()
    files = generate(name, out, fps=fps, seed=seed, variant=variant)
    return name, files, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    """``exteros-edge scenario NAME|all --out DIR [--fps F] [--variant V] [--seed N]``."""
    ap = argparse.ArgumentParser(
        prog="exteros-edge scenario",
        description="Generate scenario videos with ground truth and an edge config.",
    )
    ap.add_argument("name", help=f"scenario name or 'all' ({', '.join(SCENARIOS)})")
    ap.add_argument("--out", type=Path, required=True, help="output directory")
    ap.add_argument("--fps", type=float, default=15.0, help="frame rate (default 15)")
    ap.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    ap.add_argument("--variant", choices=sorted(VARIANTS), help="camera stall or another fps")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = ap.parse_args(argv)
    if args.list:
        for spec in SCENARIOS.values():
            print(f"{spec.name:13s} {spec.duration_s:6.1f} s  {spec.description}")
        return 0
    names = list(SCENARIOS) if args.name == "all" else [args.name]
    for n in names:
        if n not in SCENARIOS:
            print(f"unknown scenario {n!r}; known: {', '.join(SCENARIOS)}, all", file=sys.stderr)
            return 2
    if args.fps <= 0 or args.fps > 120:
        print(f"--fps must be in (0, 120], got {args.fps}", file=sys.stderr)
        return 2
    todo = []
    for n in names:
        if args.variant == "stall" and SCENARIOS[n].stall_at is None:
            if args.name == "all":
                continue
            print(f"scenario {n!r} has no stall variant", file=sys.stderr)
            return 2
        todo.append(n)
    jobs = [(n, args.out, args.fps, args.seed, args.variant) for n in todo]
    if len(jobs) > 1 and (os.cpu_count() or 1) > 1:
        from concurrent.futures import ProcessPoolExecutor

        from edge.scenarios.sprites import SOURCES, load_sprite

        for sprite in SOURCES:  # cut once before the workers start
            load_sprite(sprite)
        # spawn, not fork: the caller may have torch (and its thread pools) loaded.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1), mp_context=ctx) as pool:
            results = list(pool.map(_job, jobs))
    else:
        results = [_job(j) for j in jobs]
    for n, files, seconds in results:
        truth = load_truth(files.truth)
        counts = ", ".join(
            f"{loc.rsplit('.', 1)[-1]}: " + "/".join(str(c[k]) for k in c)
            for loc, c in truth["expected_counts"].items()
        )
        print(
            f"{n:13s} {truth['frames']:5d} frames {seconds:5.1f}s  {files.video}  "
            f"(imp/disc/eng/int {counts})"
        )
        for w in truth["margin_warnings"]:
            print(f"  warning: {w}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
