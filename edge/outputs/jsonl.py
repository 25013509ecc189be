"""JSONL file output: one payload per line, exactly what goes over MQTT."""

from __future__ import annotations

import json
from pathlib import Path

from edge.outputs import Message


class JsonlOutput:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")

    def emit(self, message: Message) -> None:
        self._file.write(json.dumps(message.to_payload(), separators=(",", ":")) + "\n")
        self._file.flush()

    def close(self, drain_timeout_s: float | None = None) -> bool:
        self._file.close()
        return True
