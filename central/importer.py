"""``exteros-central import FILE.jsonl``: load an edge ``--events-out`` file.

The file is checked completely before anything is written, so a malformed line
imports nothing and is reported with its line number. Lines are checked like
MQTT payloads (strict types, ids of their device, timestamps within the
configured bounds, start before end). An admin import trusts the file's devices
(they need not be registered) but never guesses a company: events and visits for
locations the store does not know are reported and left out. Importing the same
file twice stores nothing new; an id already stored with other content is a
conflicting duplicate, reported and left out (the stored copy is kept).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, Table, select

from central.config import IngestSettings
from central.models import EventRow, Location, VisitRow, table
from central.store import (
    EVENT_CONTENT,
    EVENT_KEY,
    VISIT_CONTENT,
    VISIT_KEY,
    conflicting,
    event_row,
    insert_events,
    insert_visits,
    touch_locations,
    visit_row,
)
from central.timeutil import now_ms
from central.validation import TimeLimits, TimeWindow, event_problem, visit_problem
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
    conflicts: int = 0

    @property
    def skipped(self) -> int:
        return sum(self.unknown.values())


def _items(path: Path, errors: list[str], window: TimeWindow) -> Iterator[Event | VisitSummary]:
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
                    # Strict, as on MQTT: "3" is not a number, true not a confidence.
                    item: Event | VisitSummary
                    if schema == EVENT_SCHEMA:
                        item = Event.model_validate_json(line, strict=True)
                        problem = event_problem(item, window)
                    elif schema == VISIT_SCHEMA:
                        item = VisitSummary.model_validate_json(line, strict=True)
                        problem = visit_problem(item, window)
                    else:
                        errors.append(
                            f"line {no}: not an {EVENT_SCHEMA} or {VISIT_SCHEMA} payload "
                            f"(schema {schema!r})"
                        )
                        continue
                except ValidationError as exc:
                    err = exc.errors()[0]
                    where = ".".join(str(p) for p in err["loc"]) or "payload"
                    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
                    errors.append(f"line {no}: {where}: {err['msg']}{more}")
                    continue
                if problem:
                    errors.append(f"line {no}: {problem}")
                    continue
                yield item
        except UnicodeDecodeError:
            raise ImportFileError(f"{path} is not UTF-8 text") from None


def _check(path: Path, window: TimeWindow) -> set[str]:
    """First pass: every line valid? -> the location names used. Memory stays flat."""
    errors: list[str] = []
    names = {item.location for item in _items(path, errors, window)}
    if errors:
        shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
        extra = f" (+{len(errors) - MAX_REPORTED_ERRORS} more)" if len(errors) > 10 else ""
        raise ImportFileError(
            f"{path}: {len(errors)} malformed line(s), nothing imported: {shown}{extra}"
        )
    return names


@dataclass
class _Chunk:
    """Rows waiting to be written to one table: the first copy of each id, and later copies."""

    table: Table
    keys: tuple[str, ...]
    content: tuple[str, ...]
    rows: dict[tuple, dict] = field(default_factory=dict)
    later: list[dict] = field(default_factory=list)

    def add(self, row: dict) -> None:
        key = tuple(row[c] for c in self.keys)
        if self.rows.setdefault(key, row) is not row:
            self.later.append(row)

    def __len__(self) -> int:
        return len(self.rows)

    def flush(self, conn: Connection) -> tuple[int, int]:
        """Write; -> (new rows, conflicting duplicates). Every copy that was not inserted,
        of the file or already stored, is compared with the stored one."""
        batch = list(self.rows.values())
        insert = insert_events if self.table is table(EventRow) else insert_visits
        inserted = insert(conn, batch)
        keys = self.keys
        check = [r for r in batch if tuple(r[c] for c in keys) not in inserted] + self.later
        conflicts = conflicting(conn, self.table, check, set(), keys, self.content)
        self.rows.clear()
        self.later.clear()
        return len(inserted), len(conflicts)


def import_jsonl(
    engine: Engine, path: str | Path, settings: IngestSettings | None = None
) -> ImportReport:
    path = Path(path)
    settings = settings or IngestSettings()
    received = now_ms()
    window = TimeLimits(settings.clock_skew_s, settings.earliest).window(received)
    names = _check(path, window)
    report = ImportReport()
    with engine.begin() as conn:
        known: dict[str, int] = {}
        name_list = sorted(names)
        for i in range(0, len(name_list), 500):
            for loc_id, name in conn.execute(
                select(Location.id, Location.name).where(Location.name.in_(name_list[i : i + 500]))
            ):
                known[name] = loc_id
        latest: dict[int, int] = {}
        events = _Chunk(table(EventRow), EVENT_KEY, EVENT_CONTENT)
        visits = _Chunk(table(VisitRow), VISIT_KEY, VISIT_CONTENT)

        def flush(chunk: _Chunk) -> int:
            new, conflicts = chunk.flush(conn)
            report.conflicts += conflicts
            return new

        # Second pass: the file is read again rather than held in memory.
        for item in _items(path, [], window):
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
                events.add(row)
                if latest.get(lid, row["occurred_ms"] - 1) < row["occurred_ms"]:
                    latest[lid] = row["occurred_ms"]
                if len(events) >= CHUNK:
                    report.events_new += flush(events)
            else:
                visits.add(visit_row(item, lid, received))
                if len(visits) >= CHUNK:
                    flush(visits)
        report.events_new += flush(events)
        flush(visits)
        touch_locations(conn, latest, not_after_ms=received)
    return report
