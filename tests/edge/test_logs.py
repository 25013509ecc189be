"""Log lines for journald (text) and shippers (json)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest

from edge.logs import JsonFormatter, TextFormatter, setup_logging, under_journald


@pytest.fixture(autouse=True)
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def record(msg: str, level: int = logging.INFO, **extra) -> logging.LogRecord:
    rec = logging.LogRecord("edge.pipeline", level, __file__, 1, msg, None, None)
    for k, v in extra.items():
        setattr(rec, k, v)
    return rec


def test_text_terminal_line() -> None:
    line = TextFormatter().format(record("camera up", camera="cam-a"))
    # "YYYY-MM-DD HH:MM:SS INFO    edge.pipeline [cam-a] camera up"
    assert line.endswith("INFO    edge.pipeline [cam-a] camera up")
    assert line[:4].isdigit()


def test_text_journald_line_has_priority_and_no_timestamp() -> None:
    f = TextFormatter(journald=True)
    assert (
        f.format(record("broker lost", logging.WARNING)) == "<4>WARNING edge.pipeline broker lost"
    )
    assert f.format(record("x", logging.ERROR)).startswith("<3>ERROR")
    assert f.format(record("x", logging.DEBUG)).startswith("<7>DEBUG")


def test_text_journald_traceback_lines_keep_priority() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        rec = logging.LogRecord("edge", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    lines = TextFormatter(journald=True).format(rec).split("\n")
    assert len(lines) > 2
    assert all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>RuntimeError: boom"


def test_json_line() -> None:
    out = json.loads(JsonFormatter().format(record("visit closed", camera="cam-a", dwell_s=3.5)))
    assert out["level"] == "info"
    assert out["logger"] == "edge.pipeline"
    assert out["msg"] == "visit closed"
    assert out["camera"] == "cam-a"
    assert out["dwell_s"] == 3.5
    assert out["ts"].endswith("Z")


def test_json_without_camera_and_with_exception() -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        rec = logging.LogRecord("edge", logging.ERROR, __file__, 1, "%s!", ("bad",), sys.exc_info())
    out = json.loads(JsonFormatter().format(rec))
    assert "camera" not in out
    assert out["msg"] == "bad!"
    assert "ZeroDivisionError" in out["exc"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_setup_logging_one_line_per_record(fmt: str) -> None:
    buf = io.StringIO()
    setup_logging(fmt, "INFO", stream=buf)
    log = logging.getLogger("edge.test")
    log.info("camera %s up", "cam-a", extra={"camera": "cam-a"})
    log.debug("per-frame noise")
    logging.getLogger("ultralytics").info("chatty")
    lines = buf.getvalue().splitlines()
    assert len(lines) == 1, lines
    if fmt == "json":
        assert json.loads(lines[0])["camera"] == "cam-a"
    else:
        assert "[cam-a] camera cam-a up" in lines[0]


def test_setup_logging_twice_replaces_handler() -> None:
    buf1, buf2 = io.StringIO(), io.StringIO()
    setup_logging("text", stream=buf1)
    setup_logging("json", "debug", stream=buf2)
    logging.getLogger("edge.test").debug("once")
    assert buf1.getvalue() == ""
    assert json.loads(buf2.getvalue())["msg"] == "once"


def test_setup_logging_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="text, json"):
        setup_logging("xml")


def test_under_journald_checks_the_stream(tmp_path, monkeypatch) -> None:
    f = (tmp_path / "log").open("w")
    st = os.fstat(f.fileno())
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    assert under_journald(f)
    assert not under_journald(io.StringIO())
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    assert not under_journald(f)
    monkeypatch.delenv("JOURNAL_STREAM")
    assert not under_journald(f)
    f.close()


def test_journald_stream_detected_in_a_real_process(tmp_path) -> None:
    """A child whose stderr is the file named by JOURNAL_STREAM writes priority prefixes."""
    err = tmp_path / "stderr"
    code = (
        "import logging; from edge.logs import setup_logging; setup_logging('text');"
        "logging.getLogger('edge').warning('camera down', extra={'camera': 'cam-a'})"
    )
    with err.open("w") as f:
        st = os.fstat(f.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([sys.executable, "-c", code], stderr=f, env=env, check=True)
    assert err.read_text() == "<4>WARNING edge [cam-a] camera down\n"
