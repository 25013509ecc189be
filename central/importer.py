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


def _read(path: Path) -> tuple[list[Event], list[VisitSummary]]:
    events: list[Event] = []
    visits: list[VisitSummary] = []
    errors: list[str] = []
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
                        events.append(Event.model_validate(obj))
                    elif schema == VISIT_SCHEMA:
                        visits.append(VisitSummary.model_validate(obj))
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
    if errors:
        shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
        extra = f" (+{len(errors) - MAX_REPORTED_ERRORS} more)" if len(errors) > 10 else ""
        raise ImportFileError(
            f"{path}: {len(errors)} malformed line(s), nothing imported: {shown}{extra}"
        )
    return events, visits


def import_jsonl(engine: Engine, path: str | Path) -> ImportReport:
    path = Path(path)
    events, visits = _read(path)
    report = ImportReport(events_read=len(events), visits_read=len(visits))
    names = {e.location for e in events} | {v.location for v in visits}
    received = now_ms()
    with engine.begin() as conn:
        known: dict[str, int] = {}
        name_list = sorted(names)
        for i in range(0, len(name_list), 500):
            for lid, name in conn.execute(
                select(Location.id, Location.name).where(Location.name.in_(name_list[i : i + 500]))
            ):
                known[name] = lid
        for item in [*events, *visits]:
            if item.location not in known:
                report.unknown[item.location] += 1
        rows = [event_row(e, known[e.location], received) for e in events if e.location in known]
        latest: dict[int, int] = {}
        for i in range(0, len(rows), CHUNK):
            chunk = rows[i : i + CHUNK]
            ids = [r["event_id"] for r in chunk]
            existing = set(
                conn.execute(select(EventRow.event_id).where(EventRow.event_id.in_(ids))).scalars()
            )
            report.events_new += len({r["event_id"] for r in chunk} - existing)
            insert_events(conn, chunk)
            for r in chunk:
                if latest.get(r["location_id"], r["occurred_ms"] - 1) < r["occurred_ms"]:
                    latest[r["location_id"]] = r["occurred_ms"]
        vrows = [visit_row(v, known[v.location], received) for v in visits if v.location in known]
        for i in range(0, len(vrows), CHUNK):
            insert_visits(conn, vrows[i : i + CHUNK])
        touch_locations(conn, latest)
    return report
