"""The editor's HTTP API refuses what the page refuses, with the config path of the error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from calibration.server import create_app
from tests.calibration.conftest import HEIGHT, WIDTH

WHOLE = [[0, 0], [1, 0], [1, 1], [0, 1]]
BOW_TIE = [[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.7]]


@pytest.fixture
def client(config_file: Path) -> TestClient:
    return TestClient(create_app(config_file), base_url="http://127.0.0.1:8765")


def save(client: TestClient, zones: list[dict]) -> tuple[int, dict]:
    r = client.post("/api/save", json={"cameras": {"cam-1": {"zones": zones}}})
    return r.status_code, r.json()


def test_state_and_snapshot(client: TestClient):
    state = client.get("/api/state").json()
    cam = state["cameras"][0]
    assert (cam["camera_id"], cam["width"], cam["height"]) == ("cam-1", WIDTH, HEIGHT)
    assert cam["zones"][0]["location"] == "madison-ave-store"
    assert cam["zones"][0]["exit_grace_s"] == 3
    r = client.get(cam["snapshot"])
    assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_page_uses_no_external_assets(client: TestClient):
    html = client.get("/").text
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(ref.startswith("/") for ref in refs), refs
    for ref in refs:
        body = client.get(ref).text
        assert "http://" not in body and "https://" not in body, ref


@pytest.mark.parametrize(
    ("polygon", "message"),
    [
        ([[0.1, 0.1], [0.5, 0.1]], "cameras[0].zones[0].polygon: needs at least 3 points"),
        (BOW_TIE, "cameras[0].zones[0].polygon: is self-intersecting"),
        ([[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]], "cameras[0].zones[0].polygon: point 1"),
    ],
)
def test_invalid_polygons_are_refused(client: TestClient, config_file: Path, polygon, message):
    before = config_file.read_text()
    status, body = save(client, [{"location": "madison-ave-store", "polygon": polygon}])
    assert status == 400
    assert any(line.startswith(message) for line in body["error"]["errors"]), body
    assert config_file.read_text() == before
    assert not config_file.with_name("edge.yaml.bak").exists()


def test_other_invalid_saves(client: TestClient, config_file: Path):
    status, body = save(client, [{"location": "Not A Slug", "polygon": WHOLE}])
    assert status == 400 and body["error"]["errors"][0].startswith("cameras[0].zones[0].location")
    status, body = save(client, [{"location": "a", "polygon": WHOLE, "discovery_s": 0.1}])
    assert status == 400 and "funnel" in body["error"]["message"]
    status, body = save(client, [{"location": "a", "polygon": WHOLE, "colour": "red"}])
    assert status == 400 and "cameras[0].zones[0].colour: unknown key" in body["error"]["errors"]
    r = client.post("/api/save", json={"cameras": {"cam-9": {"zones": []}}})
    assert r.status_code == 400 and "cam-9" in r.json()["error"]["message"]
    r = client.post("/api/save", json={"cameras": []})
    assert r.status_code == 400
    r = client.post("/api/check-polygon", json={"polygon": [[0, 0], [1, 1]]})
    assert r.status_code == 400 and "needs at least 3 points" in r.json()["error"]["message"]


def test_valid_save_keeps_comments_and_backup(client: TestClient, config_file: Path):
    before = config_file.read_text()
    zones = [
        {"location": "madison-ave-store", "polygon": WHOLE, "product_areas": [], "exit_grace_s": 3},
        {"location": "madison-ave-store.table", "polygon": [[0.5, 0.5], [0.9, 0.5], [0.7, 0.9]],
         "engagement_s": 20},
    ]  # fmt: skip
    status, body = save(client, zones)
    assert status == 200, body
    text = config_file.read_text()
    assert "# zones drawn with exteros-calibrate" in text
    assert "location: madison-ave-store   # whole store" in text
    assert "polygon: [[0.5, 0.5], [0.9, 0.5], [0.7, 0.9]]" in text
    assert config_file.with_name("edge.yaml.bak").read_text() == before
    assert [z["location"] for z in body["state"]["cameras"][0]["zones"]] == [
        "madison-ave-store",
        "madison-ave-store.table",
    ]


def test_ground_plane_gives_a_homography_and_can_be_saved(client: TestClient, config_file):
    gp = {"image": [[0, 0], [1, 0], [1, 1], [0, 1]], "floor_m": [[0, 0], [6, 0], [6, 4], [0, 4]]}
    edit = {"zones": [{"location": "madison-ave-store", "polygon": WHOLE}], "ground_plane": gp}
    r = client.post("/api/save", json={"cameras": {"cam-1": edit}})
    assert r.status_code == 200, r.json()
    cam = r.json()["state"]["cameras"][0]
    h = cam["homography"]
    # The relative corner (1, 1) lies at (6, 4) m on the floor.
    w = h[2][0] + h[2][1] + h[2][2]
    assert (h[0][0] + h[0][1] + h[0][2]) / w == pytest.approx(6, abs=1e-6)
    assert (h[1][0] + h[1][1] + h[1][2]) / w == pytest.approx(4, abs=1e-6)
    assert "ground_plane:" in config_file.read_text()


def test_a_camera_without_zones_opens_and_gets_its_first(config_file: Path):
    text = config_file.read_text()
    start = text.index("    zones:\n")
    config_file.write_text(text[:start] + "    zones: []  # to be drawn\n")
    client = TestClient(create_app(config_file), base_url="http://localhost:8765")
    assert client.get("/api/state").json()["cameras"][0]["zones"] == []
    status, body = save(client, [])
    assert status == 400 and body["error"]["errors"][0].startswith("cameras[0].zones:")
    status, body = save(client, [{"location": "first", "polygon": WHOLE}])
    assert status == 200, body
    assert "# Edge device at Madison Ave" in config_file.read_text()


def test_only_local_json_requests(client: TestClient, config_file: Path):
    before = config_file.read_text()
    r = client.get("/api/state", headers={"Host": "evil.example:8765"})
    assert r.status_code == 403
    r = client.post("/api/save", content='{"cameras": {}}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    assert config_file.read_text() == before
