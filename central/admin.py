"""Administrative operations (companies, locations, devices, keys), used by the CLI and tests."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    delete,
    func,
    insert,
    select,
    update,
)

from central.keys import display_prefix, generate_key, hash_key
from central.models import ApiKey, Company, Device, EventRow, Location, VisitRow
from central.timeutil import now_ms
from exteros.contract import is_slug


class AdminError(ValueError):
    """A clear, user-facing reason an admin command cannot be done."""


def check_slug(value: str, what: str) -> str:
    if not is_slug(value):
        raise AdminError(
            f"{what} {value!r} is not a slug (lower-case letters, digits, '.', '_', '-'; "
            "starts with a letter or digit; at most 64 characters)"
        )
    return value


def check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise AdminError(
            f"unknown timezone {value!r} (use an IANA name such as America/New_York or UTC)"
        ) from None
    return value


@dataclass
class Created:
    id: int
    created: bool


def _new_id(result: CursorResult[object]) -> int:
    """The primary key of the row a single-row INSERT made."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - only for an executemany or a non-insert
        raise AdminError("the database returned no id for the new row")
    return int(key[0])


def ensure_company(conn: Connection, name: str, timezone: str | None = None) -> Created:
    check_slug(name, "company")
    found = conn.execute(select(Company.id).where(Company.name == name)).scalar_one_or_none()
    if found is not None:
        return Created(found, False)
    result = conn.execute(
        insert(Company).values(
            name=name,
            default_timezone=check_timezone(timezone or "UTC"),
            created_ms=now_ms(),
        )
    )
    cid = _new_id(result)
    return Created(cid, True)


def _company_id(conn: Connection, company: str) -> int:
    found = conn.execute(select(Company.id).where(Company.name == company)).scalar_one_or_none()
    if found is None:
        raise AdminError(f"unknown company {company!r}")
    return found


@dataclass(frozen=True)
class _Loc:
    id: int
    company_id: int
    parent_id: int | None
    type: str
    timezone: str


def _location(conn: Connection, name: str) -> _Loc:
    row = conn.execute(
        select(
            Location.id, Location.company_id, Location.parent_id, Location.type, Location.timezone
        ).where(Location.name == name)
    ).first()
    if row is None:
        raise AdminError(f"unknown location {name!r} (see `exteros-central locations list`)")
    return _Loc(*row)


def _parent(conn: Connection, parent: str, company_id: int, company: str) -> tuple[int, str]:
    """-> (id, timezone) of a parent location, which must be of the same company."""
    row = conn.execute(
        select(Location.id, Location.company_id, Location.timezone).where(Location.name == parent)
    ).first()
    if row is None:
        raise AdminError(f"parent location {parent!r} does not exist")
    if row.company_id != company_id:
        raise AdminError(
            f"parent location {parent!r} belongs to another company, not {company!r} "
            "(a location's parent must be of its own company)"
        )
    return row.id, row.timezone


def _check_type(type_: str) -> str:
    if not type_ or len(type_) > 32:
        raise AdminError("--type must be 1 to 32 characters (store, popup, zone, ...)")
    return type_


def add_location(
    engine: Engine,
    name: str,
    company: str,
    timezone: str | None,
    type_: str = "store",
    parent: str | None = None,
) -> tuple[int, bool]:
    """-> (location id, company was created).

    Without ``timezone`` the location takes its parent's; a top-level location needs one.
    """
    check_slug(name, "location")
    if timezone is not None:
        check_timezone(timezone)
    elif parent is None:
        raise AdminError(
            "--timezone is required for a top-level location (with --parent it defaults "
            "to the parent's)"
        )
    _check_type(type_)
    with engine.begin() as conn:
        comp = ensure_company(conn, company)
        existing = conn.execute(
            select(Location.company_id).where(Location.name == name)
        ).scalar_one_or_none()
        if existing is not None:
            raise AdminError(f"location {name!r} already exists")
        parent_id = None
        if parent is not None:
            parent_id, parent_tz = _parent(conn, parent, comp.id, company)
            timezone = timezone or parent_tz
        result = conn.execute(
            insert(Location).values(
                name=name,
                company_id=comp.id,
                parent_id=parent_id,
                type=type_,
                timezone=timezone,
                created_ms=now_ms(),
            )
        )
        lid = _new_id(result)
    return lid, comp.created


def _ancestors(conn: Connection, location_id: int) -> list[int]:
    """Ids from the location up to its root, the location first (stops on a loop)."""
    out: list[int] = []
    current: int | None = location_id
    while current is not None and current not in out:
        out.append(current)
        current = conn.execute(
            select(Location.parent_id).where(Location.id == current)
        ).scalar_one_or_none()
    return out


def update_location(
    engine: Engine,
    name: str,
    *,
    timezone: str | None = None,
    type_: str | None = None,
    parent: str | None = None,
    no_parent: bool = False,
) -> list[str]:
    """Change a location's timezone, type or parent; -> one ``field: old -> new`` per change.

    Its events and visits stay; a new timezone re-buckets past days too (counts are
    computed from UTC times at query time).
    """
    if timezone is None and type_ is None and parent is None and not no_parent:
        raise AdminError("nothing to change: give --timezone, --type, --parent or --no-parent")
    if parent is not None and no_parent:
        raise AdminError("give either --parent or --no-parent, not both")
    if timezone is not None:
        check_timezone(timezone)
    if type_ is not None:
        _check_type(type_)
    with engine.begin() as conn:
        loc = _location(conn, name)
        values: dict[str, object] = {}
        changes: list[str] = []
        if timezone is not None and timezone != loc.timezone:
            values["timezone"] = timezone
            changes.append(f"timezone: {loc.timezone} -> {timezone}")
        if type_ is not None and type_ != loc.type:
            values["type"] = type_
            changes.append(f"type: {loc.type} -> {type_}")
        old_parent = (
            conn.execute(select(Location.name).where(Location.id == loc.parent_id)).scalar_one()
            if loc.parent_id is not None
            else None
        )
        if parent is not None and parent != old_parent:
            company = conn.execute(
                select(Company.name).where(Company.id == loc.company_id)
            ).scalar_one()
            parent_id, _tz = _parent(conn, parent, loc.company_id, company)
            if loc.id in _ancestors(conn, parent_id):
                raise AdminError(
                    f"location {name!r} cannot be its own ancestor ({parent!r} is "
                    f"{'itself' if parent == name else 'one of its descendants'})"
                )
            values["parent_id"] = parent_id
            changes.append(f"parent: {old_parent or '-'} -> {parent}")
        if no_parent and old_parent is not None:
            values["parent_id"] = None
            changes.append(f"parent: {old_parent} -> -")
        if values:
            conn.execute(update(Location).where(Location.id == loc.id).values(**values))
    return changes


@dataclass
class Renamed:
    events: int
    visits: int


def _history(conn: Connection, location_id: int) -> tuple[int, int]:
    events = conn.execute(
        select(func.count()).select_from(EventRow).where(EventRow.location_id == location_id)
    ).scalar_one()
    visits = conn.execute(
        select(func.count()).select_from(VisitRow).where(VisitRow.location_id == location_id)
    ).scalar_one()
    return events, visits


def rename_location(engine: Engine, old: str, new: str) -> Renamed:
    """Give a location a new name. Its events, visits, children and settings stay with it
    (they refer to its id, not its name); -> how many events and visits it keeps."""
    check_slug(new, "new location name")
    with engine.begin() as conn:
        loc = _location(conn, old)
        if old == new:
            raise AdminError(f"location {old!r} already has that name")
        taken = conn.execute(select(Location.id).where(Location.name == new)).first()
        if taken is not None:
            raise AdminError(f"location {new!r} already exists")
        conn.execute(update(Location).where(Location.id == loc.id).values(name=new))
        return Renamed(*_history(conn, loc.id))


@dataclass
class Removed:
    events: int
    visits: int
    children: list[str]
    new_parent: str | None


def remove_location(engine: Engine, name: str, *, force: bool = False) -> Removed:
    """Delete a location. Refused while it has events, visits or child locations, unless
    ``force``: then its events and visits are deleted too and its children move up to
    its parent (top level when it has none)."""
    with engine.begin() as conn:
        loc = _location(conn, name)
        events, visits = _history(conn, loc.id)
        children = list(
            conn.execute(
                select(Location.name).where(Location.parent_id == loc.id).order_by(Location.name)
            ).scalars()
        )
        if not force and (events or visits or children):
            held = [
                f"{n} {what}"
                for n, what in (
                    (events, "events"),
                    (visits, "visits"),
                    (len(children), "child locations"),
                )
                if n
            ]
            raise AdminError(
                f"location {name!r} has {', '.join(held)}; `--force` deletes its events and "
                "visits and moves its children up to its parent"
            )
        new_parent = (
            conn.execute(select(Location.name).where(Location.id == loc.parent_id)).scalar_one()
            if loc.parent_id is not None
            else None
        )
        conn.execute(delete(EventRow).where(EventRow.location_id == loc.id))
        conn.execute(delete(VisitRow).where(VisitRow.location_id == loc.id))
        conn.execute(
            update(Location).where(Location.parent_id == loc.id).values(parent_id=loc.parent_id)
        )
        conn.execute(delete(Location).where(Location.id == loc.id))
    return Removed(events, visits, children, new_parent)


def add_device(engine: Engine, device_id: str, company: str) -> bool:
    """-> company was created."""
    check_slug(device_id, "device")
    with engine.begin() as conn:
        comp = ensure_company(conn, company)
        existing = conn.execute(
            select(Device.company_id).where(Device.id == device_id)
        ).scalar_one_or_none()
        if existing is not None:
            raise AdminError(f"device {device_id!r} is already registered")
        conn.execute(insert(Device).values(id=device_id, company_id=comp.id, created_ms=now_ms()))
    return comp.created


def create_key(engine: Engine, company: str) -> tuple[str, bool]:
    """-> (the key in clear, shown once; company was created)."""
    key = generate_key()
    with engine.begin() as conn:
        comp = ensure_company(conn, company)
        conn.execute(
            insert(ApiKey).values(
                company_id=comp.id,
                key_hash=hash_key(key),
                prefix=display_prefix(key),
                created_ms=now_ms(),
            )
        )
    return key, comp.created


def revoke_key(engine: Engine, prefix: str) -> int:
    with engine.begin() as conn:
        res = conn.execute(
            update(ApiKey)
            .where(ApiKey.prefix == prefix, ApiKey.revoked_ms.is_(None))
            .values(revoked_ms=now_ms())
        )
    if res.rowcount == 0:
        raise AdminError(f"no active key starts with {prefix!r}")
    return res.rowcount
