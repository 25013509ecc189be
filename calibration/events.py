"""Per-zone counts of each event kind from an edge ``--events-out`` JSONL file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pydantic import ValidationError

from exteros.contract import Event, EventKind


class EventsError(Exception):
    """An events file that cannot be read; the message names the file and line."""


def count_events(path: str | Path, camera_id: str) -> dict[str, Counter[EventKind]]:
    """{location: Counter(kind -> n)} for the events of one camera."""
    p = Path(path)
    counts: dict[str, Counter[EventKind]] = {}
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EventsError(f"events file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EventsError(f"cannot read events file {p}: {exc}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = Event.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise EventsError(f"{p}:{n}: not JSON ({exc.msg})") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "(line)"
            msg = f"{p}:{n}: not an exteros.event/1 ({where}: {first['msg']})"
            raise EventsError(msg) from None
        if event.camera_id == camera_id:
            counts.setdefault(event.location, Counter())[event.kind] += 1
    return counts
