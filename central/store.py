"""The one write path into the store, shared by the MQTT worker and the import command.

``Ingestor.process`` takes a batch of raw MQTT messages, validates each with the
CONTRACT models (strictly: no type coercion) and the rules in ``central.validation``,
writes everything valid in one transaction and stores every refused message as a
dead letter with its reason. Events and visits are unique per sending device; a
redelivered identical copy is a no-op, a copy with other content is a
"conflicting duplicate" dead letter. Locations are never created here: only the
admin command creates them. Only a database that cannot be reached makes it
raise; the caller then retries without acknowledging.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection, Engine, Table, bindparam, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from central.config import IngestSettings
from central.models import (
    DeadLetter,
    Device,
    EventRow,
    HeartbeatRow,
    Location,
    VisitRow,
    table,
)
from central.timeutil import now_ms, to_ms
from central.validation import (
    TimeLimits,
    TimeWindow,
    event_problem,
    heartbeat_problem,
    status_problem,
    visit_problem,
)
from exteros.contract import (
    KIND_ORDER,
    DeviceStatus,
    Event,
    Heartbeat,
    VisitSummary,
    split_topic,
)

log = logging.getLogger(__name__)

MAX_DEAD_PAYLOAD = 65536
DEVICE_CACHE_S = 10.0
CONFLICT = "conflicting duplicate"

# Outcome of one message of a batch (``BatchResult.outcomes``, in input order).
STORED = "stored"  # committed: new, or an identical copy of what is stored
DEAD = "dead"  # committed as a dead letter with its reason; resending cannot help
IGNORED = "ignored"  # nothing to store (a cleared retained status)


@dataclass
class Message:
    """One raw MQTT message as received."""

    topic: str
    payload: bytes


@dataclass
class BatchResult:
    events: int = 0
    visits: int = 0
    heartbeats: int = 0
    statuses: int = 0
    dead: int = 0
    reasons: list[str] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LocationInfo:
    id: int
    company_id: int


class Rejected(Exception):
    """A message that goes to the dead-letter table; the text is the reason."""


def _insert(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def event_row(ev: Event, location_id: int, received_ms: int) -> dict:
    return {
        "event_id": ev.event_id,
        "kind": ev.kind.value,
        "location_id": location_id,
        "device_id": ev.device_id,
        "camera_id": ev.camera_id,
        "visit_id": ev.visit_id,
        "visit_started_ms": to_ms(ev.visit_started_at),
        "occurred_ms": to_ms(ev.occurred_at),
        "dwell_s": ev.dwell_s,
        "confidence": ev.confidence,
        "received_ms": received_ms,
    }


def visit_row(v: VisitSummary, location_id: int, received_ms: int) -> dict:
    return {
        "visit_id": v.visit_id,
        "device_id": v.device_id,
        "location_id": location_id,
        "camera_id": v.camera_id,
        "started_ms": to_ms(v.started_at),
        "ended_ms": to_ms(v.ended_at),
        "dwell_s": v.dwell_s,
        "kinds": ",".join(k.value for k in KIND_ORDER if k in v.kinds),
        "received_ms": received_ms,
    }


EVENT_KEY = ("device_id", "event_id")
VISIT_KEY = ("device_id", "visit_id", "location_id")
# What must match for a second copy of an id to be the same event (received_ms may differ).
EVENT_CONTENT = (
    "kind",
    "location_id",
    "camera_id",
    "visit_id",
    "visit_started_ms",
    "occurred_ms",
    "dwell_s",
    "confidence",
)
VISIT_CONTENT = ("camera_id", "started_ms", "ended_ms", "dwell_s", "kinds")
_KEYS = {cols: itemgetter(*cols) for cols in (EVENT_KEY, VISIT_KEY)}

_EVENT_COLS = (
    ("event_id", "text"),
    ("kind", "text"),
    ("location_id", "integer"),
    ("device_id", "text"),
    ("camera_id", "text"),
    ("visit_id", "text"),
    ("visit_started_ms", "bigint"),
    ("occurred_ms", "bigint"),
    ("dwell_s", "float8"),
    ("confidence", "float8"),
    ("received_ms", "bigint"),
)
# PostgreSQL: one statement and one round trip per batch, the rows as one JSON
# document. Several times cheaper than executemany (one pipelined INSERT per row)
# and than per-column arrays (psycopg quotes every text element in Python).
_PG_EVENTS_JSON = text(
    f"INSERT INTO events ({', '.join(c for c, _ in _EVENT_COLS)}) "
    f"SELECT {', '.join(c for c, _ in _EVENT_COLS)} FROM json_to_recordset(CAST(:rows AS json)) "
    f"AS x({', '.join(f'{c} {t}' for c, t in _EVENT_COLS)}) "
    "ON CONFLICT (device_id, event_id) DO NOTHING RETURNING device_id, event_id"
)


def _key(row: dict, cols: Sequence[str]) -> tuple:
    return _KEYS[cols](row) if cols in _KEYS else tuple(row[c] for c in cols)


def insert_events(conn: Connection, rows: Sequence[dict]) -> set[tuple]:
    """Insert, skipping (device_id, event_id) already stored; -> the keys inserted."""
    if not rows:
        return set()
    if conn.dialect.name == "postgresql":
        res = conn.execute(_PG_EVENTS_JSON, {"rows": json.dumps(list(rows), separators=(",", ":"))})
        return {tuple(r) for r in res}
    t = table(EventRow)
    stmt = (
        _insert(conn, t)
        .on_conflict_do_nothing(index_elements=list(EVENT_KEY))
        .returning(*(t.c[c] for c in EVENT_KEY))
    )
    return {tuple(r) for r in conn.execute(stmt, list(rows))}


def insert_visits(conn: Connection, rows: Sequence[dict]) -> set[tuple]:
    """Insert, skipping (device_id, visit_id, location_id) already stored; -> keys inserted."""
    if not rows:
        return set()
    t = table(VisitRow)
    stmt = (
        _insert(conn, t)
        .on_conflict_do_nothing(index_elements=list(VISIT_KEY))
        .returning(*(t.c[c] for c in VISIT_KEY))
    )
    return {tuple(r) for r in conn.execute(stmt, list(rows))}


def conflicting(
    conn: Connection,
    table: Table,
    rows: Sequence[dict],
    inserted: set[tuple],
    key_cols: Sequence[str],
    content_cols: Sequence[str],
) -> list[tuple[dict, list[str]]]:
    """Rows not inserted whose stored twin differs: -> (row, the fields that differ).

    Rows not inserted already existed (committed before, or by another worker).
    An identical copy is a harmless redelivery; one with other content is not.
    """
    skipped = [r for r in rows if _key(r, key_cols) not in inserted]
    if not skipped:
        return []
    stored: dict[tuple, tuple] = {}
    keys = sorted({_key(r, key_cols) for r in skipped})
    cols = [table.c[c] for c in key_cols]
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        stmt = select(*cols, *(table.c[c] for c in content_cols)).where(tuple_(*cols).in_(chunk))
        for rec in conn.execute(stmt):
            stored[tuple(rec[: len(key_cols)])] = tuple(rec[len(key_cols) :])
    out = []
    for r in skipped:
        twin = stored.get(_key(r, key_cols))
        if twin is None:
            continue  # cannot happen under the unique constraint; never reject on a guess
        diff = [c for c, v in zip(content_cols, twin, strict=True) if r[c] != v]
        if diff:
            out.append((r, diff))
    return out


def touch_locations(conn: Connection, latest: dict[int, int], not_after_ms: int) -> None:
    """Raise each location's last-update to the given ms (never lower it, never past
    ``not_after_ms``, the receive time: a device clock ahead cannot pin it in the future)."""
    if not latest:
        return
    t = table(Location)
    stmt = (
        update(t)
        .where(t.c.id == bindparam("lid"))
        .where((t.c.last_update_ms.is_(None)) | (t.c.last_update_ms < bindparam("ms")))
        .values(last_update_ms=bindparam("ms"))
    )
    # Sorted ids: concurrent workers lock rows in the same order, so they cannot deadlock.
    conn.execute(stmt, [{"lid": k, "ms": min(latest[k], not_after_ms)} for k in sorted(latest)])


def insert_dead(conn: Connection, rows: Sequence[dict]) -> None:
    if rows:
        conn.execute(table(DeadLetter).insert(), list(rows))


def dead_row(topic: str, payload: bytes, reason: str, received_ms: int) -> dict:
    text = payload[:MAX_DEAD_PAYLOAD].decode("utf-8", "backslashreplace").replace("\x00", "\\x00")
    return {
        "topic": topic.replace("\x00", "\\x00"),
        "payload": text,
        "reason": reason[:2000],
        "received_ms": received_ms,
    }


def _validation_reason(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{loc}: {err['msg']}")
    return "invalid payload: " + "; ".join(parts)


def conflict_reason(what: str, row: dict, diff: list[str]) -> str:
    ident = row["event_id"] if what == "event_id" else row["visit_id"]
    return (
        f"{CONFLICT}: {what} {ident[:120]!r} of device {row['device_id']!r} is already "
        f"stored with other content ({', '.join(diff)} differ); the stored copy is kept"
    )


M = TypeVar("M", bound=BaseModel)


def parse_strict(model: type[M], payload: bytes) -> M:
    """Validate a JSON payload against a contract model without coercing types.

    ``"3"`` is not a number and ``true`` is not a confidence; raises Rejected."""
    if b"\x00" in payload or b"\\u0000" in payload:
        raise Rejected("payload contains a NUL character")
    try:
        obj = model.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        if exc.errors() and exc.errors()[0]["type"] == "json_invalid":
            raise Rejected(f"not JSON: {exc.errors()[0]['msg']}") from None
        raise Rejected(_validation_reason(exc)) from None
    return obj


def _max_into(acc: dict[int, int], key: int, value: int) -> None:
    if acc.get(key, value - 1) < value:
        acc[key] = value


_MODELS: dict[str, type[BaseModel]] = {
    "events": Event,
    "visits": VisitSummary,
    "heartbeat": Heartbeat,
    "status": DeviceStatus,
}
# each takes the model _MODELS names for the same kind
_CHECKS: dict[str, Callable[[Any, TimeWindow], str | None]] = {
    "events": event_problem,
    "visits": visit_problem,
    "heartbeat": heartbeat_problem,
    "status": status_problem,
}


class Ingestor:
    """Validates and stores batches of MQTT messages; keeps small caches of devices/locations.

    ``settings`` gives the time limits (default: ``IngestSettings()`` from the environment);
    ``clock`` the receive time in epoch ms (injected by tests).
    """

    def __init__(
        self,
        engine: Engine,
        settings: IngestSettings | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.engine = engine
        settings = settings or IngestSettings()
        self.limits = TimeLimits(settings.clock_skew_s, settings.earliest)
        self.clock = clock
        self._devices: dict[str, tuple[int, float]] = {}
        self._locations: dict[str, tuple[LocationInfo, float]] = {}

    # -- lookups -------------------------------------------------------------------------

    def device_company(self, conn: Connection, device_id: str) -> int | None:
        hit = self._devices.get(device_id)
        now = time.monotonic()
        if hit and now - hit[1] < DEVICE_CACHE_S:
            return hit[0]
        company = conn.execute(
            select(Device.company_id).where(Device.id == device_id)
        ).scalar_one_or_none()
        if company is None:
            self._devices.pop(device_id, None)
            return None
        self._devices[device_id] = (company, now)
        return company

    def resolve_locations(self, conn: Connection, names: Iterable[str]) -> dict[str, LocationInfo]:
        """Name -> location for the names that exist. Never creates one: only the admin
        command does (a device naming a free name must not claim it for its company).

        A found name is cached for ``DEVICE_CACHE_S``: a rename or remove by the admin
        command reaches a running worker within that time."""
        wanted = set(names)
        now = time.monotonic()
        found: dict[str, LocationInfo] = {}
        missing = []
        for name in wanted:
            hit = self._locations.get(name)
            if hit and now - hit[1] < DEVICE_CACHE_S:
                found[name] = hit[0]
            else:
                self._locations.pop(name, None)
                missing.append(name)
        missing.sort()
        for i in range(0, len(missing), 500):
            for lid, name, company in conn.execute(
                select(Location.id, Location.name, Location.company_id).where(
                    Location.name.in_(missing[i : i + 500])
                )
            ):
                found[name] = LocationInfo(lid, company)
                self._locations[name] = (found[name], now)
        return found

    # -- the batch ----------------------------------------------------------------------

    def process(self, messages: Iterable[Message]) -> BatchResult:
        messages = list(messages)
        try:
            return self._process(messages)
        except (OperationalError, InterfaceError):
            raise  # the store is unreachable: the caller retries and does not acknowledge
        except Exception as exc:  # noqa: BLE001 - a rejected row, or a bug: never stall ingest
            if len(messages) == 1:
                received = self.clock()
                m = messages[0]
                if isinstance(exc, IntegrityError | DBAPIError):
                    first = str(exc.orig or exc).splitlines()
                    reason = f"database rejected it: {first[0] if first else type(exc).__name__}"
                else:
                    log.exception("could not process a message on %s", m.topic)
                    reason = f"could not be processed: {type(exc).__name__}: {exc}"
                with self.engine.begin() as conn:
                    insert_dead(conn, [dead_row(m.topic, m.payload, reason, received)])
                return BatchResult(dead=1, reasons=[reason], outcomes=[DEAD])
            # One bad row should not sink its batch: retry one by one.
            log.warning("batch of %d rejected (%s); retrying one by one", len(messages), exc)
            total = BatchResult()
            for m in messages:
                r = self.process([m])
                total.events += r.events
                total.visits += r.visits
                total.heartbeats += r.heartbeats
                total.statuses += r.statuses
                total.dead += r.dead
                total.reasons += r.reasons
                total.outcomes += r.outcomes
            return total

    def _process(self, messages: list[Message]) -> BatchResult:
        received = self.clock()
        window = self.limits.window(received)
        result = BatchResult(outcomes=[STORED] * len(messages))
        dead: list[dict] = []
        # Keyed by identity; the first copy in the batch is the one written.
        events: dict[tuple, tuple[Event, int, int]] = {}
        visits: dict[tuple, tuple[VisitSummary, int, int]] = {}
        heartbeats: list[tuple[str, Heartbeat, int, int]] = []
        statuses: list[tuple[str, DeviceStatus]] = []

        # Identical copies of one id in this batch (message indexes after the first):
        # they share the first copy's fate.
        copies: dict[int, list[int]] = {}

        def reject(i: int, reason: str) -> None:
            for j in (i, *copies.get(i, ())):
                m = messages[j]
                dead.append(dead_row(m.topic, m.payload, reason, received))
                result.reasons.append(reason)
                result.outcomes[j] = DEAD

        with self.engine.begin() as conn:
            for i, m in enumerate(messages):
                try:
                    parsed = self._parse(conn, m, window)
                except Rejected as exc:
                    reject(i, str(exc))
                    continue
                if parsed is None:
                    result.outcomes[i] = IGNORED
                    continue
                kind, obj, company = parsed
                if kind in ("events", "visits"):
                    first: tuple[Event | VisitSummary, int, int]
                    if kind == "events":
                        what, ident = "event_id", obj.event_id
                        first = events.setdefault((obj.device_id, obj.event_id), (obj, company, i))
                    else:
                        what, ident = "visit_id", obj.visit_id
                        key = (obj.device_id, obj.visit_id, obj.location)
                        first = visits.setdefault(key, (obj, company, i))
                    if first[2] == i:
                        continue
                    if first[0] == obj:
                        copies.setdefault(first[2], []).append(i)
                    else:
                        a, b = first[0].model_dump(), obj.model_dump()
                        differ = ", ".join(k for k in a if a[k] != b[k])
                        reject(
                            i,
                            f"{CONFLICT}: {what} {ident[:120]!r} of device {obj.device_id!r} "
                            f"came twice in one batch with other content ({differ} differ); "
                            "the first copy is kept",
                        )
                elif kind == "heartbeat":
                    heartbeats.append((split_topic(m.topic)[0], obj, company, i))
                else:
                    statuses.append((split_topic(m.topic)[0], obj))

            names = {ev.location for ev, _c, _i in events.values()}
            names |= {v.location for v, _c, _i in visits.values()}
            for _d, hb, _c, _i in heartbeats:
                names.update(hb.locations)
            locs = self.resolve_locations(conn, names) if names else {}

            def location_problem(name: str, company: int) -> str | None:
                loc = locs.get(name)
                if loc is None:
                    return (
                        f"unknown location {name!r} (locations are created only by "
                        "`exteros-central locations add`)"
                    )
                if loc.company_id != company:
                    return f"location {name!r} belongs to another company"
                return None

            latest: dict[int, int] = {}
            event_rows: list[dict] = []
            event_msg: dict[tuple, int] = {}
            for ev, company, i in events.values():
                problem = location_problem(ev.location, company)
                if problem:
                    reject(i, problem)
                    continue
                row = event_row(ev, locs[ev.location].id, received)
                event_rows.append(row)
                event_msg[_key(row, EVENT_KEY)] = i
            visit_rows: list[dict] = []
            visit_msg: dict[tuple, int] = {}
            for v, company, i in visits.values():
                problem = location_problem(v.location, company)
                if problem:
                    reject(i, problem)
                    continue
                row = visit_row(v, locs[v.location].id, received)
                visit_rows.append(row)
                visit_msg[_key(row, VISIT_KEY)] = i
            hb_rows = []
            for device, hb, company, i in heartbeats:
                foreign = [n for n in hb.locations if location_problem(n, company)]
                if foreign:
                    shown = ", ".join(repr(n) for n in foreign[:5])
                    more = f" (+{len(foreign) - 5} more)" if len(foreign) > 5 else ""
                    reject(
                        i,
                        f"heartbeat names {len(foreign)} location(s) that are not its "
                        f"company's: {shown}{more} (locations are created only by "
                        "`exteros-central locations add`)",
                    )
                    continue
                at = to_ms(hb.at)
                hb_rows.append(
                    {
                        "device_id": device,
                        "at_ms": at,
                        "received_ms": received,
                        "payload": messages[i]
                        .payload.decode("utf-8", "replace")
                        .replace("\x00", ""),
                    }
                )
                for name in hb.locations:
                    _max_into(latest, locs[name].id, at)

            inserted = insert_events(conn, event_rows)
            stored_events = len(event_rows)
            for row, diff in conflicting(
                conn, table(EventRow), event_rows, inserted, EVENT_KEY, EVENT_CONTENT
            ):
                reject(event_msg[_key(row, EVENT_KEY)], conflict_reason("event_id", row, diff))
                stored_events -= 1
            for row in event_rows:
                if result.outcomes[event_msg[_key(row, EVENT_KEY)]] != DEAD:
                    _max_into(latest, row["location_id"], row["occurred_ms"])
            inserted = insert_visits(conn, visit_rows)
            stored_visits = len(visit_rows)
            for row, diff in conflicting(
                conn, table(VisitRow), visit_rows, inserted, VISIT_KEY, VISIT_CONTENT
            ):
                reject(visit_msg[_key(row, VISIT_KEY)], conflict_reason("visit_id", row, diff))
                stored_visits -= 1
            if hb_rows:
                conn.execute(table(HeartbeatRow).insert(), hb_rows)
            for device, st in statuses:
                at = to_ms(st.at)
                conn.execute(
                    update(Device)
                    .where(Device.id == device)
                    .where((Device.state_ms.is_(None)) | (Device.state_ms <= at))
                    .values(state=st.state, state_ms=at, version=st.version[:64])
                )
            touch_locations(conn, latest, not_after_ms=received)
            insert_dead(conn, dead)
        result.events = stored_events
        result.visits = stored_visits
        result.heartbeats = len(hb_rows)
        result.statuses = len(statuses)
        result.dead = len(dead)
        return result

    def _parse(
        self, conn: Connection, m: Message, window: TimeWindow
    ) -> tuple[str, Any, int] | None:
        """-> (topic kind, model, company id), None to ignore, or raises Rejected.

        The model is the one _MODELS names for the kind (the caller dispatches on it)."""
        try:
            device, kind = split_topic(m.topic)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        if kind == "status" and not m.payload:
            return None  # a cleared retained status
        model = _MODELS.get(kind)
        if model is None:
            raise Rejected(f"unknown topic kind {kind!r}")
        obj = parse_strict(model, m.payload)
        sender = getattr(obj, "device_id", device)
        if sender != device:
            raise Rejected(f"device_id {sender!r} does not match the topic's device {device!r}")
        company = self.device_company(conn, device)
        if company is None:
            raise Rejected(f"unknown device {device!r} (register it with `devices add`)")
        problem = _CHECKS[kind](obj, window)
        if problem:
            raise Rejected(problem)
        return kind, obj, company


def dump_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
