"""Hostile or broken config input: one line naming the problem, quickly, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from edge.config import MAX_YAML_VALUES, ConfigError, load_config

from .test_config import MINIMAL

# ~400 bytes that expand to 9**9 (387 million) strings when built naively.
BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + MINIMAL
)


def test_alias_bomb_is_refused_quickly(tmp_path):
    p = tmp_path / "bomb.yaml"
    p.write_text(BOMB)
    assert len(BOMB) < 1000
    t0 = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert time.perf_counter() - t0 < 5
    assert f"more than {MAX_YAML_VALUES:,} values through aliases" in str(exc.value)
    assert str(p) in str(exc.value)


def test_ordinary_anchors_still_work(tmp_path):
    p = tmp_path / "anchors.yaml"
    p.write_text(
        "device_id: edge-1\n"
        "cameras:\n"
        "  - camera_id: cam-1\n"
        "    source: v.mp4\n"
        "    zones:\n"
        "      - &z {location: store-a, polygon: [[0, 0], [1, 0], [1, 1]]}\n"
        "      - {<<: *z, location: store-b}\n"
    )
    cfg = load_config(p)
    assert [z.location for z in cfg.cameras[0].zones] == ["store-a", "store-b"]
    assert cfg.cameras[0].zones[1].polygon == cfg.cameras[0].zones[0].polygon


def test_recursive_alias_is_an_error_not_a_hang(tmp_path):
    p = tmp_path / "loop.yaml"
    p.write_text("a: &a [*a]\n" + MINIMAL)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert str(p) in str(exc.value)


def test_env_override_with_bad_json_is_one_line(tmp_path, monkeypatch):
    p = tmp_path / "edge.yaml"
    p.write_text(MINIMAL)
    monkeypatch.setenv("EXTEROS_CAMERAS", "not json")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert "EXTEROS_CAMERAS" in str(exc.value) and "not valid JSON" in str(exc.value)


@pytest.mark.parametrize(
    ("content", "env", "expected"),
    [
        (BOMB, {}, "through aliases"),
        (MINIMAL, {"EXTEROS_CAMERAS": "not json"}, "EXTEROS_CAMERAS: value is not valid JSON"),
        (MINIMAL, {"EXTEROS_MQTT": "{"}, "EXTEROS_MQTT: value is not valid JSON"),
    ],
)
def test_check_config_cli_prints_one_line(tmp_path, content, env, expected):
    p = tmp_path / "edge.yaml"
    p.write_text(content)
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "check-config", str(p)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr
