"""JSONL file output: one payload per line, exactly what goes over MQTT.

A write that fails (disk full, file gone read-only) does not stop the frame
loop: the payload is counted in ``dropped``, the first error is kept in
``error``, and ``close`` returns False so the command can say so.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.outputs import Message
from exteros.contract import Heartbeat


class JsonlOutput:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        self.written = 0
        self._dropped = 0
        self.error: str | None = None

    def emit(self, message: Message) -> None:
        line = json.dumps(message.to_payload(), separators=(",", ":")) + "\n"
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            self._dropped += 1
            if self.error is None:
                self.error = exc.strerror or str(exc)
            return
        self.written += 1

    def depth(self) -> int:
        return 0

    @property
    def dropped(self) -> int:
        return self._dropped

    def heartbeat(self, hb: Heartbeat) -> None:
        """A file has no use for heartbeats."""

    def close(self, drain_timeout_s: float | None = None) -> bool:
        try:
            self._file.close()
        except OSError as exc:
            self._dropped += 1  # the tail that was buffered is at best partial
            self.error = self.error or exc.strerror or str(exc)
        return self._dropped == 0
