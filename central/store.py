"""The one write path into the store, shared by the MQTT worker and the import command.

``Ingestor.process`` takes a batch of raw MQTT messages, validates each with the
CONTRACT models, writes everything valid in one transaction (events and visits
with ``ON CONFLICT DO NOTHING``, so redeliveries are harmless) and stores every
invalid one as a dead letter with its reason. Only a database that cannot be
reached makes it raise; the caller then retries without acknowledging.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import Connection, Engine, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

from central.models import Company, DeadLetter, Device, EventRow, HeartbeatRow, Location, VisitRow
from central.timeutil import now_ms, to_ms
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


@dataclass(frozen=True)
class LocationInfo:
    id: int
    company_id: int


class Rejected(Exception):
    """A message that goes to the dead-letter table; the text is the reason."""


def _insert(conn: Connection, table):  # noqa: ANN001, ANN202
    mod = postgresql if conn.dialect.name == "postgresql" else sqlite
    return mod.insert(table)


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
    "ON CONFLICT (event_id) DO NOTHING"
)


def insert_events(conn: Connection, rows: Sequence[dict]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(_PG_EVENTS_JSON, {"rows": json.dumps(list(rows), separators=(",", ":"))})
        return
    stmt = _insert(conn, EventRow.__table__).on_conflict_do_nothing(index_elements=["event_id"])
    conn.execute(stmt, list(rows))


def insert_visits(conn: Connection, rows: Sequence[dict]) -> None:
    if rows:
        stmt = _insert(conn, VisitRow.__table__).on_conflict_do_nothing(
            index_elements=["visit_id", "location_id"]
        )
        conn.execute(stmt, list(rows))


def touch_locations(conn: Connection, latest: dict[int, int]) -> None:
    """Raise each location's last-update to the given ms (never lower it)."""
    if not latest:
        return
    t = Location.__table__
    stmt = (
        update(t)
        .where(t.c.id == bindparam("lid"))
        .where((t.c.last_update_ms.is_(None)) | (t.c.last_update_ms < bindparam("ms")))
        .values(last_update_ms=bindparam("ms"))
    )
    # Sorted ids: concurrent workers lock rows in the same order, so they cannot deadlock.
    conn.execute(stmt, [{"lid": k, "ms": latest[k]} for k in sorted(latest)])


def insert_dead(conn: Connection, rows: Sequence[dict]) -> None:
    if rows:
        conn.execute(DeadLetter.__table__.insert(), list(rows))


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


def _max_into(acc: dict[int, int], key: int, value: int) -> None:
    if acc.get(key, value - 1) < value:
        acc[key] = value


class Ingestor:
    """Validates and stores batches of MQTT messages; keeps small caches of devices/locations."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._devices: dict[str, tuple[int, float]] = {}
        self._locations: dict[str, LocationInfo] = {}

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

    def resolve_locations(
        self, conn: Connection, wanted: dict[str, int], create: bool = True
    ) -> dict[str, LocationInfo]:
        """Name -> location for every wanted name (name -> company of the sender).

        Unknown names are created under the sender's company when ``create``.
        """
        missing = [n for n in wanted if n not in self._locations]
        if missing:
            for lid, name, company in conn.execute(
                select(Location.id, Location.name, Location.company_id).where(
                    Location.name.in_(missing)
                )
            ):
                self._locations[name] = LocationInfo(lid, company)
        if create:
            for name in [n for n in wanted if n not in self._locations]:
                self._create_location(name, wanted[name])
        return {n: self._locations[n] for n in wanted if n in self._locations}

    def _create_location(self, name: str, company_id: int) -> None:
        # Its own transaction: the location exists even if the batch that named it fails.
        with self.engine.begin() as conn:
            parent = None
            tz = conn.execute(
                select(Company.default_timezone).where(Company.id == company_id)
            ).scalar_one()
            if "." in name:
                row = conn.execute(
                    select(Location.id, Location.timezone).where(
                        Location.name == name.rsplit(".", 1)[0],
                        Location.company_id == company_id,
                    )
                ).first()
                if row:
                    parent, tz = row
            stmt = (
                _insert(conn, Location.__table__)
                .values(
                    name=name,
                    company_id=company_id,
                    parent_id=parent,
                    type="zone" if parent else "store",
                    timezone=tz,
                    created_ms=now_ms(),
                )
                .on_conflict_do_nothing(index_elements=["name"])
            )
            conn.execute(stmt)
            lid, company = conn.execute(
                select(Location.id, Location.company_id).where(Location.name == name)
            ).one()
        log.info("created location %s (company id %s) first seen in an event", name, company)
        self._locations[name] = LocationInfo(lid, company)

    # -- the batch ----------------------------------------------------------------------

    def process(self, messages: Iterable[Message]) -> BatchResult:
        messages = list(messages)
        try:
            return self._process(messages)
        except (OperationalError, InterfaceError):
            raise  # the store is unreachable: the caller retries and does not acknowledge
        except Exception as exc:  # noqa: BLE001 - a rejected row, or a bug: never stall ingest
            if len(messages) == 1:
                received = now_ms()
                m = messages[0]
                if isinstance(exc, IntegrityError | DBAPIError):
                    first = str(exc.orig or exc).splitlines()
                    reason = f"database rejected it: {first[0] if first else type(exc).__name__}"
                else:
                    log.exception("could not process a message on %s", m.topic)
                    reason = f"could not be processed: {type(exc).__name__}: {exc}"
                with self.engine.begin() as conn:
                    insert_dead(conn, [dead_row(m.topic, m.payload, reason, received)])
                return BatchResult(dead=1, reasons=[reason])
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
            return total

    def _process(self, messages: list[Message]) -> BatchResult:
        received = now_ms()
        result = BatchResult()
        dead: list[dict] = []
        events: dict[str, tuple[Event, int, Message]] = {}
        visits: list[tuple[VisitSummary, int, Message]] = []
        heartbeats: list[tuple[str, Heartbeat, int, bytes]] = []
        statuses: list[tuple[str, DeviceStatus]] = []

        def reject(m: Message, reason: str) -> None:
            dead.append(dead_row(m.topic, m.payload, reason, received))
            result.reasons.append(reason)

        with self.engine.begin() as conn:
            for m in messages:
                try:
                    parsed = self._parse(conn, m)
                except Rejected as exc:
                    reject(m, str(exc))
                    continue
                if parsed is None:
                    continue
                kind, obj, company = parsed
                if kind == "events":
                    events[obj.event_id] = (obj, company, m)
                elif kind == "visits":
                    visits.append((obj, company, m))
                elif kind == "heartbeat":
                    heartbeats.append((m.topic, obj, company, m.payload))
                else:
                    statuses.append((split_topic(m.topic)[0], obj))

            wanted: dict[str, int] = {}
            for ev, company, _m in events.values():
                wanted.setdefault(ev.location, company)
            for v, company, _m in visits:
                wanted.setdefault(v.location, company)
            for _t, hb, company, _p in heartbeats:
                for name in hb.locations:
                    wanted.setdefault(name, company)
            locs = self.resolve_locations(conn, wanted) if wanted else {}

            latest: dict[int, int] = {}
            event_rows = []
            for ev, company, m in events.values():
                loc = locs[ev.location]
                if loc.company_id != company:
                    reject(m, f"location {ev.location!r} belongs to another company")
                    continue
                row = event_row(ev, loc.id, received)
                event_rows.append(row)
                _max_into(latest, loc.id, row["occurred_ms"])
            visit_rows = []
            for v, company, m in visits:
                loc = locs[v.location]
                if loc.company_id != company:
                    reject(m, f"location {v.location!r} belongs to another company")
                    continue
                visit_rows.append(visit_row(v, loc.id, received))
            hb_rows = []
            for t, hb, company, payload in heartbeats:
                at = to_ms(hb.at)
                device = split_topic(t)[0]
                hb_rows.append(
                    {
                        "device_id": device,
                        "at_ms": at,
                        "received_ms": received,
                        "payload": payload.decode("utf-8", "replace").replace("\x00", ""),
                    }
                )
                for name in hb.locations:
                    loc = locs.get(name)
                    # A heartbeat naming another company's location is not trusted for it.
                    if loc and loc.company_id == company:
                        _max_into(latest, loc.id, at)

            insert_events(conn, event_rows)
            insert_visits(conn, visit_rows)
            if hb_rows:
                conn.execute(HeartbeatRow.__table__.insert(), hb_rows)
            for device, st in statuses:
                at = to_ms(st.at)
                conn.execute(
                    update(Device)
                    .where(Device.id == device)
                    .where((Device.state_ms.is_(None)) | (Device.state_ms <= at))
                    .values(state=st.state, state_ms=at, version=st.version[:64])
                )
            touch_locations(conn, latest)
            insert_dead(conn, dead)
        result.events = len(event_rows)
        result.visits = len(visit_rows)
        result.heartbeats = len(hb_rows)
        result.statuses = len(statuses)
        result.dead = len(dead)
        return result

    def _parse(self, conn: Connection, m: Message):  # noqa: ANN202
        """-> (topic kind, model, company id), None to ignore, or raises Rejected."""
        try:
            device, kind = split_topic(m.topic)
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        if kind == "status" and not m.payload:
            return None  # a cleared retained status
        if b"\x00" in m.payload or b"\\u0000" in m.payload:
            raise Rejected("payload contains a NUL character")
        model = {
            "events": Event,
            "visits": VisitSummary,
            "heartbeat": Heartbeat,
            "status": DeviceStatus,
        }.get(kind)
        if model is None:
            raise Rejected(f"unknown topic kind {kind!r}")
        try:
            obj = model.model_validate_json(m.payload)
        except ValidationError as exc:
            if exc.errors() and exc.errors()[0]["type"] == "json_invalid":
                raise Rejected(f"not JSON: {exc.errors()[0]['msg']}") from None
            raise Rejected(_validation_reason(exc)) from None
        dwell = getattr(obj, "dwell_s", 0.0)
        if not math.isfinite(dwell):
            raise Rejected(f"invalid payload: dwell_s must be a finite number, not {dwell}")
        sender = getattr(obj, "device_id", device)
        if sender != device:
            raise Rejected(f"device_id {sender!r} does not match the topic's device {device!r}")
        company = self.device_company(conn, device)
        if company is None:
            raise Rejected(f"unknown device {device!r} (register it with `devices add`)")
        return kind, obj, company


def dump_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
