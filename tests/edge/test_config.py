"""Config validation: every error with its path in the file, env overrides, defaults."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, load_config, parse_config

MINIMAL = """\
device_id: edge-madison-01
cameras:
  - camera_id: cam-1
    source: path/to/video.mp4
    zones:
      - location: madison-ave-store
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
"""


def base(**zone):
    z = {"location": "madison-ave-store", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]], **zone}
    return {"device_id": "edge-1", "cameras": [{"camera_id": "cam-1", "source": "v.mp4",
                                                  "zones": [z]}]}  # fmt: skip


def test_minimal_file_is_valid_with_defaults(tmp_path):
    p = tmp_path / "edge.yaml"
    p.write_text(MINIMAL)
    cfg = load_config(p)
    zone = cfg.cameras[0].zones[0]
    assert (zone.confirm_s, zone.discovery_s, zone.engagement_s) == (0.5, 3.0, 10.0)
    assert (zone.exit_grace_s, zone.interaction_s) == (2.0, 0.2)
    assert cfg.model.weights == "yolo11n-pose_openvino_model"
    assert cfg.model.imgsz == "auto"  # derived per camera from min_person_px
    cam = cfg.cameras[0]
    assert (cam.min_person_px, cam.view, cam.track_conf) == (40.0, "angled", None)
    assert cfg.mqtt.port == 1883 and cfg.timezone == "UTC"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (base(polygon=[[0, 0], [1, 1]]), "cameras[0].zones[0].polygon: needs at least 3 points"),
        (
            base(polygon=[[0, 0], [1, 1], [1, 0], [0, 1]]),
            "cameras[0].zones[0].polygon: is self-intersecting",
        ),
        (base(polygon=[[0, 0], [2, 0], [1, 1]]), "cameras[0].zones[0].polygon: point 1"),
        (base(polygon=[[0, 0], [0.5, 0.5], [1, 1]]), "cameras[0].zones[0].polygon: has no area"),
        (base(colour="red"), "cameras[0].zones[0].colour: unknown key"),
        (
            base(confirm_s=4),  # above the default discovery_s 3
            "cameras[0].zones[0]: discovery_s must be >= confirm_s (counts form a funnel)",
        ),
        (
            base(discovery_s=20),  # above the default engagement_s 10
            "cameras[0].zones[0]: engagement_s must be >= discovery_s (counts form a funnel)",
        ),
        (
            base(product_areas=[[[0, 0], [1, 0]]]),
            "cameras[0].zones[0].product_areas[0]: needs at least 3 points",
        ),
        ({**base(), "timezone": "Mars/Olympus"}, "timezone: unknown IANA timezone"),
        ({"cameras": base()["cameras"]}, "device_id: required key is missing"),
        ({**base(), "device_id": "Edge 1"}, "device_id: 'Edge 1' is not a slug"),
        ({**base(), "mqtt": {"port": 0}}, "mqtt.port:"),
        ({**base(), "model": {"imgsz": "big"}}, "model.imgsz:"),
        ({**base(), "model": {"imgsz": [384, 650]}}, "model.imgsz:"),
        ({**base(), "model": {"tracker": "sort"}}, "model.tracker:"),
    ],
)
def test_bad_config_names_the_path(data, expected):
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert any(line.startswith(expected) for line in exc.value.errors), exc.value.errors


@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        ({"min_person_px": 2}, "cameras[0].min_person_px:"),
        ({"view": "sideways"}, "cameras[0].view:"),
        ({"track_conf": 1.5}, "cameras[0].track_conf:"),
    ],
)
def test_bad_camera_calibration_names_the_path(camera, expected):
    data = base()
    data["cameras"][0].update(camera)
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert any(line.startswith(expected) for line in exc.value.errors), exc.value.errors


def test_camera_calibration_keys_and_fixed_input_size():
    data = base()
    data["cameras"][0].update({"min_person_px": 60, "view": "overhead", "track_conf": 0.15})
    data["model"] = {"imgsz": [384, 640]}
    cfg = parse_config(data)
    cam = cfg.cameras[0]
    assert (cam.min_person_px, cam.view, cam.track_conf) == (60, "overhead", 0.15)
    assert cfg.model.imgsz == (384, 640)


def test_every_error_is_reported_at_once():
    data = base(polygon=[[0, 0], [1, 1]], colour="red")
    data["cameras"].append(
        {
            "camera_id": "cam-2",
            "source": "x.mp4",
            "zones": [
                {"location": "a", "polygon": [[0, 0], [1, 0]]},
                {"location": "b", "polygon": [[0, 0]]},
            ],
        }
    )
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    text = "\n".join(exc.value.errors)
    for path in ("cameras[0].zones[0].polygon", "cameras[0].zones[0].colour",
                 "cameras[1].zones[0].polygon", "cameras[1].zones[1].polygon"):  # fmt: skip
        assert path in text


def test_bad_yaml_and_missing_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("device_id: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_config(p)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    p = tmp_path / "edge.yaml"
    p.write_text(MINIMAL)
    monkeypatch.setenv("EXTEROS_MQTT__HOST", "broker.local")
    monkeypatch.setenv("EXTEROS_MODEL__PROCESS_FPS", "5")
    cfg = load_config(p)
    assert cfg.mqtt.host == "broker.local"
    assert cfg.model.process_fps == 5


def test_whole_frame_polygon_holds_border_pixels():
    from edge.geometry import PixelPolygon

    poly = PixelPolygon([(0, 0), (1, 0), (1, 1), (0, 1)], 1280, 720)
    for x, y in [(0, 0), (1279, 719), (640, 719), (0, 360), (1279, 0)]:
        assert poly.contains(x, y)
    assert not poly.contains(1280.5, 10)


def test_password_from_credentials_directory(tmp_path, monkeypatch):
    (tmp_path / "mqtt-password").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    cfg = parse_config(base())
    assert cfg.mqtt.resolve_password() == "s3cret"


# -- store-level counts (docs/edge.md "Store-level counts") --------------------------------
@pytest.mark.parametrize(
    ("camera", "expected"),
    [
        ({"store": "Madison Ave"}, "cameras[0].store: 'Madison Ave' is not a slug"),
        (
            {"store": "madison-ave-store"},  # the zone of base() has this name
            "cameras[0].store: 'madison-ave-store' is also a zone's location on this camera; "
            "the store counts the union of the zones, so name that zone for its part of the "
            "store (e.g. 'madison-ave-store.floor')",
        ),
        (
            {"count_store": False},
            "cameras[0].count_store: needs a store: key naming the store location this "
            "camera counts",
        ),
        ({"store": "madison", "count_store": "sometimes"}, "cameras[0].count_store:"),
    ],
)
def test_bad_store_keys_name_the_problem(camera, expected):
    data = base()
    data["cameras"][0].update(camera)
    with pytest.raises(ConfigError) as exc:
        parse_config(data)
    assert len(exc.value.errors) == 1, exc.value.errors
    assert exc.value.errors[0].startswith(expected), exc.value.errors


def test_store_is_a_counted_location_unless_switched_off():
    data = base()
    data["cameras"][0]["store"] = "madison"
    cfg = parse_config(data)
    cam = cfg.cameras[0]
    assert (cam.store, cam.count_store, cam.counted_store) == ("madison", True, "madison")
    assert cam.locations() == ["madison-ave-store", "madison"]
    assert cfg.locations() == ["madison", "madison-ave-store"]
    data["cameras"][0]["count_store"] = False
    cfg = parse_config(data)
    assert cfg.cameras[0].counted_store is None
    assert cfg.locations() == ["madison-ave-store"]
    # no store key: nothing changes for existing configs
    cfg = parse_config(base())
    cam = cfg.cameras[0]
    assert (cam.store, cam.counted_store, cam.locations()) == (None, None, ["madison-ave-store"])
    # a dumped config (count_store: true, store: null) loads again
    assert parse_config(cfg.model_dump(mode="json")).cameras[0] == cam
