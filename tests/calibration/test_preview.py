"""preview: zones filled where they are (and only there), labels, counts, heatmap."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.cli import main
from calibration.preview import AREA_ALPHA, FILL_ALPHA, heatmap, render, zone_colour
from edge.config import parse_config
from tests.calibration.conftest import HEIGHT, WIDTH, run_cli

GREY = 100
ZONE_A = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.6], [0.1, 0.6]]
AREA_A = [[0.3, 0.4], [0.45, 0.4], [0.45, 0.55], [0.3, 0.55]]
ZONE_B = [[0.6, 0.2], [0.9, 0.2], [0.9, 0.9], [0.6, 0.9]]


def camera():
    cfg = parse_config({"device_id": "d", "cameras": [{"camera_id": "cam-1", "source": "x.mp4",
        "zones": [{"location": "zone-a", "polygon": ZONE_A, "product_areas": [AREA_A]},
                  {"location": "zone-b", "polygon": ZONE_B}]}]})  # fmt: skip
    return cfg.cameras[0]


def px(rx: float, ry: float) -> tuple[int, int]:
    return round(rx * (WIDTH - 1)), round(ry * (HEIGHT - 1))


def blend(base, colour, alpha) -> np.ndarray:
    return np.round(np.asarray(base, float) * (1 - alpha) + np.asarray(colour) * alpha)


def check_zone_pixels(out: np.ndarray) -> None:
    assert out.shape[1] == WIDTH and out.shape[0] > HEIGHT  # summary panel below the frame
    a, b = zone_colour(0), zone_colour(1)
    assert a != b
    grey = np.full(3, GREY)
    in_a = blend(grey, a, FILL_ALPHA)
    checks = {
        (0.45, 0.25): in_a,  # zone a, away from its label and outline
        (0.2, 0.5): in_a,
        (0.37, 0.47): blend(in_a, a, AREA_ALPHA),  # product area inside zone a
        (0.8, 0.7): blend(grey, b, FILL_ALPHA),  # zone b
        (0.05, 0.9): grey,  # outside every zone
        (0.55, 0.4): grey,  # between the zones
        (0.95, 0.05): grey,
    }
    for (rx, ry), want in checks.items():
        x, y = px(rx, ry)
        assert np.abs(out[y, x].astype(int) - want).max() <= 1, ((rx, ry), out[y, x], want)
    # The outline is drawn in the zone colour.
    x, y = px(0.3, 0.1)
    assert np.abs(out[y, x].astype(int) - np.asarray(a)).max() <= 2


def test_zones_are_filled_where_they_are_and_only_there():
    img = np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)
    check_zone_pixels(render(img, camera()))
    assert (img == GREY).all()  # the input is not drawn on


def test_preview_cli_with_events(tmp_path: Path):
    img = np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)
    cv2.imwrite(str(tmp_path / "snap.png"), img)
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(json.dumps({"device_id": "d", "cameras": [camera().model_dump(mode="json")]}))
    events = tmp_path / "events.jsonl"
    kinds = ["impression", "impression", "discovery", "engagement", "interaction"]
    with events.open("w") as f:
        for i, kind in enumerate(kinds):
            f.write(json.dumps({"schema": "exteros.event/1", "event_id": f"e{i}", "kind": kind,
                "location": "zone-a", "device_id": "d", "camera_id": "cam-1", "visit_id": "v",
                "visit_started_at": "2020-01-01T09:05:02.120Z",
                "occurred_at": "2020-01-01T09:05:05.120Z", "dwell_s": 3.0, "confidence": 0.8})
                + "\n")  # fmt: skip
        f.write("\n")
    out = tmp_path / "zones.png"
    snap = str(tmp_path / "snap.png")
    res = run_cli("preview", "--config", str(cfg), "--camera", "cam-1", "--image", snap,
                  "--events", str(events), "--out", str(out))  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "events: 5 from events.jsonl" in res.stdout
    check_zone_pixels(cv2.imread(str(out)))


def test_preview_of_the_camera_itself(config_file: Path, tmp_path: Path):
    out = tmp_path / "p.png"
    res = run_cli("preview", "--config", str(config_file), "--camera", "cam-1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert cv2.imread(str(out)).shape[1] == WIDTH


def test_heatmap_is_transparent_where_nobody_stood():
    img = np.full((HEIGHT, WIDTH, 3), GREY, np.uint8)
    pts = np.asarray([[100.0, 300.0]] * 20 + [[500.0, 100.0]] * 5)
    out = heatmap(img, pts)
    assert (out[300, 100] != GREY).any() and (out[100, 500] != GREY).any()
    assert (out[30, 320] == GREY).all()


def test_snapshot_writes_a_png_per_camera(config_file: Path, tmp_path: Path):
    res = run_cli("snapshot", "--config", str(config_file), "--out", str(tmp_path / "snaps"))
    assert res.returncode == 0, res.stderr
    img = cv2.imread(str(tmp_path / "snaps" / "cam-1.png"))
    assert img.shape == (HEIGHT, WIDTH, 3)


PREVIEW = ["preview", "--camera", "cam-1", "--config", "{cfg}"]


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["preview", "--camera", "cam-1", "--config", "{tmp}/nope.yaml"], "config file not found"),
        (["preview", "--camera", "cam-9", "--config", "{cfg}"], "camera 'cam-9' is not in"),
        ([*PREVIEW, "--video", "{tmp}/nope.mp4"], "video file not found"),
        ([*PREVIEW, "--video", "{tmp}/junk.mp4"], "cannot open video"),
        ([*PREVIEW, "--events", "{tmp}/nope.jsonl"], "events file not found"),
        ([*PREVIEW, "--events", "{tmp}/junk.mp4"], "not JSON"),
        (["snapshot", "--camera", "cam-9", "--config", "{cfg}"], "camera 'cam-9' is not in"),
        (["snapshot", "--config", "{tmp}/badsource.yaml"], "video file not found"),
        (["edit", "--config", "{tmp}/nope.yaml"], "config file not found"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path: Path, config_file: Path, args, expect, capsys):
    (tmp_path / "junk.mp4").write_text("this is not a video\n")
    (tmp_path / "badsource.yaml").write_text(
        config_file.read_text().replace(str(tmp_path / "cam.mp4"), str(tmp_path / "gone.mp4"))
    )
    argv = [a.format(tmp=tmp_path, cfg=config_file) for a in args]
    if "--out" not in argv and argv[0] != "edit":
        argv += ["--out", str(tmp_path / "out.png" if argv[0] == "preview" else tmp_path / "o")]
    # In-process: an exception escaping main() would fail the test just as a traceback would.
    assert main(argv) in (1, 2)  # 1: snapshot of a camera that gave no frame
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], err


def test_edit_on_a_busy_port(config_file: Path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = run_cli("edit", "--config", str(config_file), "--port", str(port))
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: port {port} is in use; pick another with --port"
