"""Storage faults of the outbox through the real CLI: one line, a non-zero exit, a hint.

Unwritable state_dir (a read-only mount: root ignores file modes), a corrupted
outbox file (moved aside, never deleted), a disk already full at start, and a
disk that fills up while events are emitted: what is reported as kept is what
is on disk, and what could not be stored is counted and said. Small tmpfs
mounts stand in for the disks (the tests need root to mount; they are skipped
with the reason otherwise), and every mount is unmounted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import status_command
from edge.config import EdgeConfig
from edge.outbox import outbox_path, read_status
from edge.outputs.factory import delivery_problems
from edge.outputs.mqtt import MqttOutput
from exteros.contract import Event

ROOT = Path(__file__).resolve().parents[2]


def can_mount() -> bool:
    return os.geteuid() == 0


def mount_tmpfs(path: Path, size: str, ro: bool = False) -> None:
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size}" + (",ro" if ro else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)


@pytest.fixture
def tmpfs(tmp_path):
    """mount(name, size, ro=False) -> a small filesystem, unmounted at the end."""
    if not can_mount():
        pytest.skip("needs root to mount a small tmpfs")
    mounted: list[Path] = []

    def mount(name: str, size: str = "200k", ro: bool = False) -> Path:
        p = tmp_path / name
        mount_tmpfs(p, size, ro)
        mounted.append(p)
        return p

    yield mount
    for p in reversed(mounted):
        subprocess.run(["umount", "-l", str(p)], check=False)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("video") / "tiny.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(5):
        w.write(np.full((48, 64, 3), i * 40, np.uint8))
    w.release()
    return path


def write_config(tmp_path: Path, state_dir: Path, port: int = 1) -> Path:
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(
        f"device_id: dev-a\nstate_dir: {state_dir}\n"
        f"mqtt: {{host: 127.0.0.1, port: {port}, reconnect_min_s: 0.1, reconnect_max_s: 0.2}}\n"
        "cameras:\n  - camera_id: cam-1\n    source: video.mp4\n    zones:\n"
        "      - {location: loc-1, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
    )
    return cfg


def edge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)  # fmt: skip


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(err) == 1, proc.stderr
    return err[0]


def test_unwritable_state_dir(tmp_path, tmpfs, video):
    ro = tmpfs("ro", ro=True)
    proc = edge("replay", str(video), "--config", str(write_config(tmp_path, ro / "state")),
                "--quiet")  # fmt: skip
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert str(ro / "state") in line and "writable" in line


def test_corrupted_outbox_is_moved_aside_never_deleted(tmp_path, video):
    state = tmp_path / "state"
    state.mkdir()
    garbage = b"this is not an sqlite database" * 100
    outbox_path(state).write_bytes(garbage)
    cfg = write_config(tmp_path, state)

    st = edge("status", "--config", str(cfg))  # read-only: says so, touches nothing
    assert st.returncode == 1 and "corrupted" in one_line_error(st)
    assert outbox_path(state).read_bytes() == garbage

    proc = edge("replay", str(video), "--config", str(cfg), "--quiet")
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert str(outbox_path(state)) in line and "corrupted" in line and "recover" in line
    aside = list(state.glob("outbox.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == garbage
    assert aside[0].name in line
    assert not outbox_path(state).exists()
    # the next start works with a fresh outbox
    flush = edge("flush", "--config", str(cfg), "--timeout", "0.5")
    assert flush.returncode == 0 and "nothing to deliver" in flush.stdout


def test_disk_full_at_start(tmp_path, tmpfs, video):
    disk = tmpfs("full", size="64k")
    (disk / "state").mkdir()
    with (disk / "filler").open("wb", buffering=0) as f, pytest.raises(OSError):
        while True:
            f.write(b"x" * 1024)
    proc = edge("replay", str(video), "--config", str(write_config(tmp_path, disk / "state")),
                "--quiet")  # fmt: skip
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "disk is full" in line and str(disk / "state") in line and "free space" in line


def make_event(i: int) -> Event:
    t = datetime(2020, 1, 1, 9, 0, tzinfo=UTC) + timedelta(seconds=i)
    return Event(event_id=f"dev-a/cam-1/{i}/impression" + "x" * 300, kind="impression",
                 location="loc-1", device_id="dev-a", camera_id="cam-1",
                 visit_id=f"dev-a/cam-1/{i}", visit_started_at=t, occurred_at=t, dwell_s=0.5,
                 confidence=0.9)  # fmt: skip


def test_disk_fills_while_emitting_reports_only_what_is_on_disk(tmp_path, tmpfs, capsys):
    disk = tmpfs("filling", size="256k")
    cfg = EdgeConfig(device_id="dev-a", state_dir=disk / "state",
                     mqtt={"host": "127.0.0.1", "port": 1},
                     cameras=[{"camera_id": "cam-1", "source": "v.mp4",
                               "zones": [{"location": "loc-1",
                                          "polygon": [[0, 0], [1, 0], [1, 1]]}]}])  # fmt: skip
    out = MqttOutput(cfg, version="t")
    n = 2000
    for i in range(n):
        out.emit(make_event(i))
        if i % 100 == 0 and out.storage_error is None:
            out.sync(2)  # let the disk fill up in steps, as a replay does
    out.sync(1)
    assert out.storage_error is not None and "disk is full" in out.storage_error
    assert out.close(0) is False
    on_disk = read_status(outbox_path(cfg.state_dir)).depth
    assert out.kept == on_disk > 0
    assert out.unstored > 0
    assert out.kept + out.unstored + out.dropped == n
    lines = delivery_problems([out], 0)
    assert any(f"{out.unstored} event(s) could not be stored" in ln for ln in lines)
    assert any(f"{on_disk} event(s) not confirmed" in ln for ln in lines)
    assert status_command(cfg) == 0
    assert f"depth:       {on_disk} unconfirmed" in capsys.readouterr().out
    # what was reported as kept survives a reopen
    again = MqttOutput(cfg, version="t")
    assert again.depth() == on_disk
    again.close(0)
