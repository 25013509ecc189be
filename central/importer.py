"""``exteros-central import FILE.jsonl``: load an edge ``--events-out`` file.

The file is checked completely before anything is written, so a malformed line
imports nothing and is reported with its line number. An admin import trusts
the file's devices (they need not be registered) but never guesses a company:
events and visits for locations the store does not know are reported and left
out. Importing the same file twice stores nothing new.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Engine, select

from central.models import EventRow, Location
from central.store import event_row, insert_events, insert_visits, touch_locations, visit_row
from central.timeutil import now_ms
from exteros.contract import EVENT_SCHEMA, VISIT_SCHEMA, Event, VisitSummary

CHUNK = 2000
MAX_REPORTED_ERRORS = 10


class ImportFileError(ValueError):
    pass


@dataclass
class ImportReport:
    events_read: int = 0
    events_new: int = 0
    visits_read: int = 0
    unknown: Counter = field(default_factory=Counter)

    @property
    def skipped(self) -> int:
        return sum(self.unknown.values())


def _items(path: Path, errors: list[str]) -> Iterator[Event | VisitSummary]:
    """Valid payloads of the file in order; a description of each bad line goes to errors."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        try:
            for no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    errors.append(f"line {no}: not JSON ({exc.msg} at column {exc.colno})")
                    continue
                schema = obj.get("schema") if isinstance(obj, dict) else None
                try:
                    if schema == EVENT_SCHEMA:
                        yield Event.model_validate(obj)
                    elif schema == VISIT_SCHEMA:
                        yield VisitSummary.model_validate(obj)
                    else:
                        errors.append(
                            f"line {no}: not an {EVENT_SCHEMA} or {VISIT_SCHEMA} payload "
                            f"(schema {schema!r})"
                        )
                except ValidationError as exc:
                    err = exc.errors()[0]
                    where = ".".join(str(p) for p in err["loc"]) or "payload"
                    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
                    errors.append(f"line {no}: {where}: {err['msg']}{more}")
        except UnicodeDecodeError:
            raise ImportFileError(f"{path} is not UTF-8 text") from None


def _check(path: Path) -> set[str]:
    """First pass: every line valid? -> the location names used. Memory stays flat."""
    errors: list[str] = []
    names = {item.location for item in _items(path, errors)}
    if errors:
        shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
        extra = f" (+{len(errors) - MAX_REPORTED_ERRORS} more)" if len(errors) > 10 else ""
        raise ImportFileError(
            f"{path}: {len(errors)} malformed line(s), nothing imported: {shown}{extra}"
        )
    return names


def import_jsonl(engine: Engine, path: str | Path) -> ImportReport:
    path = Path(path)
    names = _check(path)
    report = ImportReport()
    received = now_ms()
    with engine.begin() as conn:
        known: dict[str, int] = {}
        name_list = sorted(names)
        for i in range(0, len(name_list), 500):
            for lid, name in conn.execute(
                select(Location.id, Location.name).where(Location.name.in_(name_list[i : i + 500]))
            ):
                known[name] = lid
        latest: dict[int, int] = {}
        events: list[dict] = []
        visits: list[dict] = []

        def flush_events() -> None:
            ids = [r["event_id"] for r in events]
            existing = set(
                conn.execute(select(EventRow.event_id).where(EventRow.event_id.in_(ids))).scalars()
            )
            report.events_new += len(set(ids) - existing)
            insert_events(conn, events)
            events.clear()

        # Second pass: the file is read again rather than held in memory.
        for item in _items(path, []):
            lid = known.get(item.location)
            if isinstance(item, Event):
                report.events_read += 1
            else:
                report.visits_read += 1
            if lid is None:
                report.unknown[item.location] += 1
                continue
            if isinstance(item, Event):
                row = event_row(item, lid, received)
                events.append(row)
                if latest.get(lid, row["occurred_ms"] - 1) < row["occurred_ms"]:
                    latest[lid] = row["occurred_ms"]
                if len(events) >= CHUNK:
                    flush_events()
            else:
                visits.append(visit_row(item, lid, received))
                if len(visits) >= CHUNK:
                    insert_visits(conn, visits)
                    visits.clear()
        if events:
            flush_events()
        insert_visits(conn, visits)
        touch_locations(conn, latest)
    return report
