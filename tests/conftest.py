"""Shared fixtures: a real Mosquitto per test that asks for one."""

from __future__ import annotations

import os

import pytest

from tests.support.broker import Mosquitto

os.environ.setdefault("YOLO_OFFLINE", "1")


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path / "broker") as b:
        yield b
