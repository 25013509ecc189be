"""SQLAlchemy 2 tables of the central store.

Times of events, visits and heartbeats are stored as integer milliseconds since
the Unix epoch (UTC): the same arithmetic then buckets them on SQLite and on
PostgreSQL, and the wire format has millisecond precision anyway.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table(model: type[Base]) -> Table:
    """The Core table of a mapped class, for insert/update statements on a Connection.

    (``__table__`` is declared as a FromClause; a declarative class always has a Table.)
    """
    t = model.__table__
    if not isinstance(t, Table):  # pragma: no cover - only a mapping to a join or select
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return t


class Company(Base):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    default_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Location(Base):
    """A store, popup or zone. Names are global slugs: the API path carries only the name.

    Only ``exteros-central locations add`` creates them; ingest never does, so a device
    cannot claim a name another company will need.
    """

    __tablename__ = "locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("locations.id"), nullable=True)
    type: Mapped[str] = mapped_column(String(32), default="store")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Latest event occurred_at or covering heartbeat `at` (epoch ms), kept by ingest.
    last_update_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Device(Base):
    __tablename__ = "devices"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    """Only the SHA-256 of the key is stored; the key itself is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class EventRow(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    device_id: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64))
    visit_id: Mapped[str] = mapped_column(String(512))
    visit_started_ms: Mapped[int] = mapped_column(BigInteger)
    occurred_ms: Mapped[int] = mapped_column(BigInteger)
    dwell_s: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    received_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        # An event's identity is scoped to the device that sent it: no device can take,
        # or collide with, another device's ids.
        UniqueConstraint("device_id", "event_id", name="uq_events_device_id_event_id"),
        # The day queries: one location, a range of visit starts, grouped by kind.
        Index("ix_events_location_start", "location_id", "visit_started_ms", "kind"),
    )


class VisitRow(Base):
    __tablename__ = "visits"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    visit_id: Mapped[str] = mapped_column(String(512))
    device_id: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    camera_id: Mapped[str] = mapped_column(String(64))
    started_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int] = mapped_column(BigInteger)
    dwell_s: Mapped[float] = mapped_column(Float)
    kinds: Mapped[str] = mapped_column(String(128))
    received_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint(
            "device_id", "visit_id", "location_id", name="uq_visits_device_id_visit_id_location_id"
        ),
        # The dwell queries: one location, a range of visit starts, their dwell (covering).
        Index("ix_visits_location_start_dwell", "location_id", "started_ms", "dwell_s"),
    )


class HeartbeatRow(Base):
    __tablename__ = "heartbeats"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    device_id: Mapped[str] = mapped_column(String(64))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    received_ms: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_heartbeats_device_at", "device_id", "at_ms"),)


class DeadLetter(Base):
    """A message ingest could not store, kept with the reason instead of being dropped."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    topic: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    received_ms: Mapped[int] = mapped_column(BigInteger)
