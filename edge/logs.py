"""Log setup for a service that runs under journald or a log shipper.

``text``: one line per record, ``LEVEL logger [camera] message``. Under
journald (``$JOURNAL_STREAM`` matches our stderr) the line also starts with a
syslog priority prefix (``<4>``) so ``journalctl -p warning`` filters by level,
and carries no timestamp: journald adds its own. On a terminal a timestamp is
added.

``json``: one JSON object per line with ``ts``, ``level``, ``logger``, ``msg``
and, when given through ``extra={"camera": ...}``, ``camera`` (plus any other
plain ``extra`` values), for shippers such as Vector or Fluent Bit.

The frame loop must not log per frame; log state changes (camera up/down,
visit closed, broker lost) and let ``STATUS=`` carry the rates.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")

# sd-daemon(3) priority prefixes that journald turns into the PRIORITY field.
_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

# Attributes every LogRecord has; anything else came in through ``extra=``.
_RECORD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}

# Third-party loggers that are chatty at INFO.
_QUIET = ("ultralytics", "paho", "httpx", "httpcore", "urllib3", "PIL", "matplotlib")


def _priority(levelno: int) -> int:
    for threshold in sorted(_SYSLOG_PRIORITY, reverse=True):
        if levelno >= threshold:
            return _SYSLOG_PRIORITY[threshold]
    return 7


def under_journald(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (stderr by default) is connected to journald.

    systemd sets ``JOURNAL_STREAM=dev:inode`` of the stream it connects;
    comparing it with our stream's fstat tells it apart from an inherited value
    (a shell started from a service).
    """
    value = os.environ.get("JOURNAL_STREAM", "")
    if not value:
        return False
    stream = stream or sys.stderr
    try:
        dev, ino = (int(x) for x in value.split(":", 1))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return st.st_dev == dev and st.st_ino == ino


class TextFormatter(logging.Formatter):
    """``LEVEL logger [camera] message``, with a timestamp only where wanted."""

    def __init__(self, journald: bool = False, timestamps: bool = True) -> None:
        super().__init__()
        self.journald = journald
        self.timestamps = timestamps and not journald

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        camera = getattr(record, "camera", None)
        parts = []
        if self.timestamps:
            parts.append(self.formatTime(record, "%Y-%m-%d %H:%M:%S"))
        parts.append(f"{record.levelname:<7}")
        parts.append(record.name)
        if camera:
            parts.append(f"[{camera}]")
        parts.append(msg)
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        if self.journald:
            # Continuation lines (tracebacks) would become separate journal entries at
            # the default priority; prefix each so `journalctl -p` keeps them together.
            prefix = f"<{_priority(record.levelno)}>"
            line = "\n".join(prefix + part for part in line.split("\n"))
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, camera and other extras."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RECORD_ATTRS or key.startswith("_") or key in out:
                continue
            out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(
    fmt: str = "text", level: str | int = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Route all logging to ``stream`` (stderr) in ``fmt``; replaces earlier handlers.

    Safe to call again (after a config reload that changes the format).
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter(journald=under_journald(stream)))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_exteros", False):
            root.removeHandler(old)  # not closed: the stream is not ours to close
    handler._exteros = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.captureWarnings(True)
    return handler
