"""``exteros-calibrate``: snapshot, edit and preview a camera's zones.

Bad input (missing config, unknown camera, unreadable video) ends with one
clear line per problem on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from calibration import groundplane, people, snapshot
from calibration.events import EventsError, count_events
from calibration.preview import Overlay, render
from edge.config import CameraConfig, ConfigError, ModelConfig, load_config
from edge.sources import SourceError, grab_one


class UsageError(Exception):
    """A problem with the command line or its inputs, reported as one line."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="exteros-calibrate", description="Draw and check a camera's zones."
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("snapshot", help="save a frame of each camera as DIR/<camera_id>.png")
    s.add_argument("--config", required=True, help="edge YAML")
    s.add_argument("--camera", help="only this camera_id")
    s.add_argument("--out", required=True, type=Path, help="output folder")
    s.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for a frame")

    e = sub.add_parser("edit", help="zone editor in the browser (served on 127.0.0.1)")
    e.add_argument("--config", required=True, help="edge YAML (written on Save; FILE.bak kept)")
    e.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765)")
    e.add_argument(
        "--images", type=Path, help="use DIR/<camera_id>.png (from snapshot) instead of grabbing"
    )

    v = sub.add_parser("preview", help="render the zones (and a heatmap/counts) onto a snapshot")
    v.add_argument("--config", required=True, help="edge YAML")
    v.add_argument("--camera", required=True, help="camera_id")
    v.add_argument("--out", required=True, type=Path, help="output PNG")
    v.add_argument("--image", type=Path, help="draw on this picture instead of a fresh frame")
    v.add_argument("--events", type=Path, help="edge --events-out JSONL: per-zone counts per kind")
    v.add_argument("--video", type=Path, help="video of this camera: heatmap of feet points")
    v.add_argument("--every", type=int, default=3, help="with --video: detect on every Nth frame")
    v.add_argument("--weights", help="with --video: model weights (default: the config's model)")
    return p


def cmd_snapshot(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    cams = [cfg.camera(args.camera)] if args.camera else cfg.cameras
    failed = 0
    for cam in cams:
        snap = snapshot.take(cam, timeout_s=args.timeout)
        if snap.image is None:
            print(f"error: camera {cam.camera_id}: {snap.error}", file=sys.stderr)
            failed += 1
            continue
        out = args.out / f"{cam.camera_id}.png"
        snapshot.write_png(snap.image, out)
        w, h = snap.size
        print(f"{cam.camera_id}: {out} ({w}x{h})")
    return 1 if failed else 0


def cmd_edit(args: argparse.Namespace) -> int:
    import uvicorn

    from calibration.server import create_app

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port}: must be 1..65535")
    app = create_app(args.config, image_dir=args.images)
    with socket.socket() as probe:  # uvicorn would only log this and exit
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError:
            raise UsageError(f"port {args.port} is in use; pick another with --port") from None
    print(f"Zone editor for {args.config}: http://127.0.0.1:{args.port}/  (Ctrl+C to stop)")
    sys.stdout.flush()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
    return 0


def _base_image(args: argparse.Namespace, cam: CameraConfig) -> np.ndarray:
    import cv2

    if args.image:
        img = cv2.imread(str(args.image), cv2.IMREAD_COLOR)
        if img is None:
            raise UsageError(f"cannot read image {args.image}")
        return img
    if args.video:
        return grab_one(str(args.video))
    return grab_one(cam.source)


def _people(
    args: argparse.Namespace,
    model: ModelConfig,
    cam: CameraConfig,
    overlay: Overlay,
    w: int,
    h: int,
) -> None:
    """Heatmap, people per zone and walking speed from a video of the camera."""
    from edge.modelzoo import ModelError

    if args.weights:
        model = model.model_copy(update={"weights": args.weights})
    try:
        found, (vw, vh) = people.track_feet(args.video, model, every=args.every)
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    except ImportError as exc:
        raise UsageError(f"--video needs the person detector (ultralytics, torch): {exc}") from None
    # Feet points are in video pixels; the picture may be a snapshot of another size.
    sx, sy = w / vw, h / vh
    found = [replace(s, x=s.x * sx, y=s.y * sy) for s in found]
    overlay.heat_points = np.asarray([(s.x, s.y) for s in found], np.float64).reshape(-1, 2)
    tracks = people.by_track(found)
    overlay.people_counts = people.people_per_zone(tracks, cam, w, h)
    overlay.notes.append(
        f"heatmap: {len(found)} feet points, {len(tracks)} tracked people in {args.video.name}"
        f" (detector on 1 of every {args.every} frames)"
    )
    hp = groundplane.homography(cam, w, h)
    if hp is None:
        return
    speeds = [
        v
        for seq in tracks.values()
        if (v := groundplane.walking_speed([s.t for s in seq], [(s.x, s.y) for s in seq], hp))
        is not None
    ]
    if speeds:
        overlay.notes.append(
            f"walking speed: median {np.median(speeds):.2f} m/s, "
            f"90th percentile {np.percentile(speeds, 90):.2f} m/s over {len(speeds)} tracks"
        )
    else:
        overlay.notes.append("walking speed: no track longer than 1 s")


def cmd_preview(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    cam = cfg.camera(args.camera)
    if args.video is not None and not args.video.is_file():
        raise UsageError(f"video file not found: {args.video}")
    if args.every < 1:
        raise UsageError("--every must be at least 1")
    img = _base_image(args, cam)
    h, w = img.shape[:2]
    overlay = Overlay()
    hp = groundplane.homography(cam, w, h)
    if hp is not None:
        overlay.areas_m2 = {
            z.location: groundplane.zone_area_m2(z.polygon, hp, w, h) for z in cam.zones
        }
    if args.events:
        overlay.event_counts = count_events(args.events, cam.camera_id)
        total = sum(sum(c.values()) for c in overlay.event_counts.values())
        overlay.notes.append(f"events: {total} from {args.events.name}")
    if args.video:
        _people(args, cfg.model, cam, overlay, w, h)
    out = render(img, cam, overlay)
    snapshot.write_png(out, args.out)
    print(f"{args.out} ({w}x{h})")
    for note in overlay.notes:
        print(note)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handler = {"snapshot": cmd_snapshot, "edit": cmd_edit, "preview": cmd_preview}[args.command]
    try:
        return handler(args)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"error: {exc.source + ': ' if exc.source else ''}{line}", file=sys.stderr)
        return 2
    except (UsageError, SourceError, EventsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
