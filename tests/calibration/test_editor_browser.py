"""The zone editor in a real headless Chromium: draw, name, save; invalid drawings refused."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from calibration import groundplane
from edge.config import load_config
from tests.calibration.conftest import HEIGHT, WIDTH

pytestmark = pytest.mark.browser


def open_editor(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda req: errors.append(f"external request {req.url}")
            if not req.url.startswith(url) else None)  # fmt: skip
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready='1']", timeout=15_000)
    return page, errors


def click_at(page, rx: float, ry: float) -> None:
    box = page.locator("#canvas").bounding_box()
    page.mouse.click(box["x"] + rx * box["width"], box["y"] + ry * box["height"])


def saved(page) -> None:
    page.locator("#message.ok", has_text="Saved").wait_for(timeout=10_000)


def check_config_cli(path: Path) -> None:
    """`exteros-edge check-config` where the edge CLI has it, else the edge loader itself."""
    load_config(path)
    if importlib.util.find_spec("edge.cli") is not None:
        code = "import sys; from edge.cli import main; sys.exit(main(sys.argv[1:]))"
        res = subprocess.run([sys.executable, "-c", code, "check-config", str(path)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr


def test_draw_name_and_save_a_zone(browser, editor, config_file: Path):
    page, errors = open_editor(browser, editor)
    page.click("#new-zone")
    corners = [(0.55, 0.55), (0.95, 0.55), (0.95, 0.92), (0.55, 0.92)]
    for rx, ry in corners:
        click_at(page, rx, ry)
    click_at(page, *corners[0])  # clicking the first point closes the polygon
    zone = page.locator(".zone").nth(1)
    zone.locator("input[data-field=location]").fill("madison-ave-store.table")
    zone.locator("input[data-field=discovery_s]").fill("4")
    # A product area of the new zone.
    page.click("#new-area")
    for rx, ry in [(0.6, 0.6), (0.7, 0.6), (0.7, 0.7)]:
        click_at(page, rx, ry)
    page.click("#finish")
    page.click("#save")
    saved(page)
    assert "Saved" in page.inner_text("#message")
    assert not errors, errors

    text = config_file.read_text()
    assert "# Edge device at Madison Ave (comment kept by the editor)" in text
    assert "# zones drawn with exteros-calibrate" in text
    assert "host: broker.local  # unrelated key, must survive a save" in text
    assert "location: madison-ave-store   # whole store" in text
    backup = config_file.with_name(config_file.name + ".bak")
    assert backup.exists() and "madison-ave-store.table" not in backup.read_text()

    doc = YAML(typ="safe").load(text)
    zones = doc["cameras"][0]["zones"]
    assert [z["location"] for z in zones] == ["madison-ave-store", "madison-ave-store.table"]
    new = zones[1]
    assert np.allclose(new["polygon"], corners, atol=0.01), new["polygon"]
    assert np.allclose(new["product_areas"][0], [[0.6, 0.6], [0.7, 0.6], [0.7, 0.7]], atol=0.01)
    assert new["discovery_s"] == 4
    assert "confirm_s" not in new  # defaults are not written out
    assert zones[0]["exit_grace_s"] == 3
    check_config_cli(config_file)
    cfg = load_config(config_file)
    assert cfg.cameras[0].zones[1].location == "madison-ave-store.table"


def test_invalid_drawings_are_refused_in_the_page(browser, editor, config_file: Path):
    before = config_file.read_text()
    page, errors = open_editor(browser, editor)
    page.click("#new-zone")
    click_at(page, 0.1, 0.1)
    click_at(page, 0.3, 0.1)
    page.click("#finish")
    msg = page.locator("#message.error")
    msg.wait_for(timeout=5_000)
    assert msg.is_visible()
    assert "needs at least 3 points" in msg.inner_text()
    page.click("#cancel")

    page.click("#new-zone")
    for rx, ry in [(0.1, 0.1), (0.5, 0.5), (0.5, 0.1), (0.1, 0.7)]:  # a bow tie
        click_at(page, rx, ry)
    page.click("#finish")
    assert "self-intersecting" in page.inner_text("#message.error")
    page.click("#cancel")
    assert page.locator(".zone").count() == 1

    # An unnamed zone is not saved either.
    page.click("#new-zone")
    for rx, ry in [(0.2, 0.2), (0.4, 0.2), (0.4, 0.4)]:
        click_at(page, rx, ry)
    page.click("#finish")
    page.click("#save")
    assert "give it a location name" in page.inner_text("#message.error")
    page.click("#delete")  # the unnamed zone is still selected

    # What only the edge models check comes back from the server, with its path.
    page.locator(".zone").first.locator("input[data-field=discovery_s]").fill("0.1")
    page.click("#save")
    page.locator("#message.error", has_text="funnel").wait_for()
    assert "cameras[0].zones[0]: discovery_s must be >= confirm_s" in page.inner_text("#message")
    assert config_file.read_text() == before
    assert not errors, errors


def test_drag_a_point_and_delete_a_product_area(browser, editor, config_file: Path):
    page, errors = open_editor(browser, editor)
    box = page.locator("#canvas").bounding_box()
    x0, y0 = box["x"] + 0.6 * box["width"], box["y"] + 0.6 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 0.1 * box["width"], y0 + 0.1 * box["height"], steps=5)
    page.mouse.up()
    page.click("#save")
    saved(page)
    area = load_config(config_file).cameras[0].zones[0].product_areas[0]
    assert area[2] == pytest.approx((0.7, 0.7), abs=0.01)

    # Dragging a point across the polygon (making it self-intersect) is undone.
    box = page.locator("#canvas").bounding_box()
    x1, y1 = box["x"] + 0.4 * box["width"], box["y"] + 0.4 * box["height"]
    page.mouse.move(x1, y1)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.55 * box["height"], steps=5)
    page.mouse.up()
    assert "Move refused" in page.inner_text("#message.error")

    click_at(page, 0.5, 0.5)  # inside the product area: selects it
    page.click("#delete")
    page.click("#save")
    saved(page)
    assert load_config(config_file).cameras[0].zones[0].product_areas == []
    assert not errors, errors


def test_ground_plane_and_point_editing(browser, editor, config_file: Path):
    page, errors = open_editor(browser, editor)
    page.click("#ground-plane")
    for rx, ry in [(0.1, 0.5), (0.9, 0.5), (0.9, 0.9), (0.1, 0.9)]:
        click_at(page, rx, ry)  # the 4th point ends the mode
    floor = [(0, 0), (8, 0), (8, 4), (0, 4)]
    for k, (x, y) in enumerate(floor):
        page.fill(f"input[data-field=floor-{k}-X]", str(x))
        page.fill(f"input[data-field=floor-{k}-Y]", str(y))
    # 0.8 of the width is 8 m, 0.4 of the height 4 m: the whole frame is about 10 m x 10 m.
    shown = page.inner_text(".zone .area-m2")
    area = float(shown.removeprefix("floor area ").removesuffix(" m²"))
    assert area == pytest.approx(100, rel=0.02), shown

    # Double-click the product area's top edge: a 5th point; right-click it: gone again.
    box = page.locator("#canvas").bounding_box()
    page.mouse.dblclick(box["x"] + 0.5 * box["width"], box["y"] + 0.4 * box["height"])
    assert "(5 points)" in page.inner_text(".zone .areas")
    page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + 0.4 * box["height"], button="right")
    assert "(4 points)" in page.inner_text(".zone .areas")

    page.click("#save")
    saved(page)
    cam = load_config(config_file).cameras[0]
    assert cam.ground_plane is not None
    assert np.allclose(cam.ground_plane.image, [(0.1, 0.5), (0.9, 0.5), (0.9, 0.9), (0.1, 0.9)],
                       atol=0.01)  # fmt: skip
    assert cam.ground_plane.floor_m == [(0, 0), (8, 0), (8, 4), (0, 4)]
    assert len(cam.zones[0].product_areas[0]) == 4
    # The page and the Python side agree on the area.
    h = groundplane.homography(cam, WIDTH, HEIGHT)
    assert groundplane.zone_area_m2(cam.zones[0].polygon, h, WIDTH, HEIGHT) == pytest.approx(
        area, abs=0.05
    )
    assert not errors, errors
