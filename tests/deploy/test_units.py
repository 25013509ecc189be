"""The systemd units: the settings the service relies on, checked key by key.

``systemd-analyze verify`` (run on the installed tree in test_install.py) catches
unknown keys and bad values; these tests pin down the choices: notify + watchdog,
the sandbox, credentials, and the command lines matching the CLIs.
"""

from __future__ import annotations

import pytest

from tests.deploy.units import DEPLOY, UNITS, environment, last, parse_unit


@pytest.fixture(scope="module")
def edge():
    return parse_unit(DEPLOY / "exteros-edge.service")


@pytest.mark.parametrize("name", UNITS)
def test_unit_parses_with_the_usual_sections(name: str) -> None:
    unit = parse_unit(DEPLOY / name)
    assert set(unit) == {"Unit", "Service", "Install"}
    assert last(unit, "Unit", "Description")
    assert last(unit, "Install", "WantedBy") == "multi-user.target"
    assert last(unit, "Service", "Restart") == "on-failure"
    assert last(unit, "Service", "TimeoutStopSec") == "15"
    assert last(unit, "Service", "ExecStart").startswith("/opt/exteros/venv/bin/exteros-")
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert last(unit, "Service", key) in ("strict", "yes"), key
    assert last(unit, "Service", "RestrictAddressFamilies") == "AF_UNIX AF_INET AF_INET6"
    assert last(unit, "Service", "CapabilityBoundingSet") == ""
    assert last(unit, "Service", "SystemCallFilter") == "@system-service"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "30"),
        ("Restart", "on-failure"),
        ("TimeoutStopSec", "15"),
        ("StateDirectory", "exteros"),
        ("ConfigurationDirectory", "exteros"),
        ("LoadCredential", "mqtt-password:/etc/exteros/mqtt-password"),
        ("DeviceAllow", "char-video4linux rw"),
        ("DevicePolicy", "closed"),
        ("SupplementaryGroups", "video"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("User", "exteros"),
        ("WorkingDirectory", "/var/lib/exteros"),
        ("ExecStart", "/opt/exteros/venv/bin/exteros-edge run --config /etc/exteros/edge.yaml"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ],
)
def test_edge_unit_setting(edge, key: str, value: str) -> None:
    assert last(edge, "Service", key) == value


def test_edge_unit_keeps_cameras_reachable(edge) -> None:
    # These would hide /dev/video* or the video group from the service.
    service = edge["Service"]
    assert last(edge, "Service", "PrivateDevices") in (None, "no")
    assert last(edge, "Service", "PrivateUsers") in (None, "no")
    # torch/OpenVINO JIT needs W+X pages
    assert last(edge, "Service", "MemoryDenyWriteExecute") in (None, "no")
    assert "DynamicUser" not in service or last(edge, "Service", "DynamicUser") == "no"


def test_edge_unit_environment(edge) -> None:
    env = environment(edge)
    assert env["YOLO_OFFLINE"] == "1"
    assert env["YOLO_CONFIG_DIR"] == "/var/lib/exteros/ultralytics"
    assert env["EXTEROS_MODELS_DIR"] == "/opt/exteros/models"
    # YOLO_CONFIG_DIR must be writable under ProtectSystem=strict: inside the state dir.
    assert env["YOLO_CONFIG_DIR"].startswith("/var/lib/" + last(edge, "Service", "StateDirectory"))


def test_central_api_command_matches_cli_shape() -> None:
    unit = parse_unit(DEPLOY / "exteros-central-api.service")
    cmd = last(unit, "Service", "ExecStart").split()
    assert cmd[:3] == ["/opt/exteros/venv/bin/exteros-central", "--db", "${EXTEROS_DB_URL}"]
    assert cmd[3] == "serve"
    assert cmd[4:] == ["--host", "${EXTEROS_API_HOST}", "--port", "${EXTEROS_API_PORT}"]
    env = environment(unit)
    assert env["EXTEROS_DB_URL"].startswith("sqlite:////var/lib/exteros-central/")
    assert last(unit, "Service", "EnvironmentFile") == "-/etc/exteros/central.env"


def test_central_ingest_is_a_template_for_several_workers() -> None:
    unit = parse_unit(DEPLOY / "exteros-central-ingest@.service")
    cmd = last(unit, "Service", "ExecStart").split()
    assert cmd[3] == "ingest"
    assert cmd[4:8] == [
        "--mqtt-host",
        "${EXTEROS_MQTT_HOST}",
        "--mqtt-port",
        "${EXTEROS_MQTT_PORT}",
    ]
    # one stable MQTT session per worker (the CLI's default id is per host only)
    assert cmd[8:] == ["--client-id", "exteros-ingest-%H-%i"]
    assert environment(unit)["EXTEROS_MQTT_USERNAME"] == "exteros-ingest"
    assert last(unit, "Service", "LoadCredential") == (
        "mqtt-password:/etc/exteros/ingest-mqtt-password"
    )
    assert "%i" in last(unit, "Unit", "Description")
    # All workers and the API share one dynamic user, so they share the SQLite state dir.
    api = parse_unit(DEPLOY / "exteros-central-api.service")
    for key in ("User", "DynamicUser", "StateDirectory"):
        assert last(unit, "Service", key) == last(api, "Service", key), key


def test_example_config_is_valid() -> None:
    from edge.config import load_config

    cfg = load_config(DEPLOY / "edge.yaml")
    assert str(cfg.state_dir) == "/var/lib/exteros"
    assert cfg.mqtt.password is None and cfg.mqtt.password_file is None  # from the credential


def test_edge_unit_never_gives_up_restarting(edge) -> None:
    # an unattended device has nobody to run `systemctl reset-failed`
    assert last(edge, "Unit", "StartLimitIntervalSec") == "0"
    assert int(last(edge, "Service", "RestartSec")) >= 5
