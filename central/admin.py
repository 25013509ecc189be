"""Administrative operations (companies, locations, devices, keys), used by the CLI and tests."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, CursorResult, Engine, insert, select, update

from central.keys import display_prefix, generate_key, hash_key
from central.models import ApiKey, Company, Device, Location
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


def add_location(
    engine: Engine,
    name: str,
    company: str,
    timezone: str,
    type_: str = "store",
    parent: str | None = None,
) -> tuple[int, bool]:
    """-> (location id, company was created)."""
    check_slug(name, "location")
    check_timezone(timezone)
    if not type_ or len(type_) > 32:
        raise AdminError("--type must be 1 to 32 characters (store, popup, zone, ...)")
    with engine.begin() as conn:
        comp = ensure_company(conn, company)
        existing = conn.execute(
            select(Location.company_id).where(Location.name == name)
        ).scalar_one_or_none()
        if existing is not None:
            raise AdminError(f"location {name!r} already exists")
        parent_id = None
        if parent is not None:
            row = conn.execute(
                select(Location.id, Location.company_id).where(Location.name == parent)
            ).first()
            if row is None or row.company_id != comp.id:
                raise AdminError(
                    f"parent location {parent!r} does not exist in company {company!r}"
                )
            parent_id = row.id
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
