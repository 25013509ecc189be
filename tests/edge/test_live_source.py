"""A live camera that cannot be reached or stops: reconnect with backoff, never die."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from edge.sources import LiveSource

CONFIG = """\
device_id: edge-madison-01
mqtt: {{enabled: false}}
cameras:
  - camera_id: cam-door
    source: {source}
    zones:
      - location: madison-ave-store
        polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]
"""


def test_unreachable_source_keeps_retrying_with_backoff():
    src = LiveSource("rtsp://127.0.0.1:9/nothing", "cam-x", backoff_min_s=0.05,
                     backoff_max_s=0.2, read_timeout_s=0.5)  # fmt: skip
    try:
        assert src.read(1.0) is None
        assert not src.connected
        assert src._thread.is_alive()
    finally:
        src.close()
    assert not src._thread.is_alive()


@pytest.mark.model
def test_run_survives_an_unreachable_camera_and_stops_on_sigterm(tmp_path):
    cfg = tmp_path / "edge.yaml"
    cfg.write_text(CONFIG.format(source="rtsp://127.0.0.1:9/nothing"))
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "--config", str(cfg)],
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(8)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "cam-door: cannot open 'rtsp://127.0.0.1:9/nothing'" in err
    assert "Traceback" not in err
