"""Database URL handling, engine creation and Alembic migrations.

SQLite (a file) is the embedded default; PostgreSQL is chosen by URL. Plain
``postgresql://`` URLs are mapped to the psycopg 3 driver, and a bare path is
taken as a SQLite file.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError

MIGRATIONS = Path(__file__).parent / "migrations"
DEFAULT_SQLITE_NAME = "exteros-central.db"
# Arbitrary constant so that concurrent starters serialise their migrations on PostgreSQL.
_PG_MIGRATE_LOCK = 0x45585445


class DatabaseUrlError(ValueError):
    pass


def default_url() -> str:
    """``EXTEROS_DB_URL``, else a SQLite file in systemd's state directory or the cwd."""
    env = os.environ.get("EXTEROS_DB_URL")
    if env:
        return env
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    base = Path(state) if state else Path.cwd()
    return f"sqlite:///{base / DEFAULT_SQLITE_NAME}"


def normalize_url(url: str) -> str:
    """Accept ``postgresql://``/``postgres://`` (psycopg 3), ``sqlite:///...`` or a file path."""
    url = url.strip()
    if not url:
        raise DatabaseUrlError("empty database URL")
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().absolute()}"
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        url = f"postgresql+psycopg://{rest}"
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseUrlError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(
            f"unsupported database {parsed.get_backend_name()!r}: use sqlite:///FILE or "
            "postgresql://USER@HOST/DB"
        )
    return url


def make_engine(url: str, *, pool_size: int = 5) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: object) -> None:
            # WAL lets the API read while a worker writes; busy_timeout makes
            # concurrent writers (two workers, an import) wait instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, pool_recycle=1800
    )


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call from several processes at once."""
    cfg = alembic_config()
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            return
        except OperationalError:
            # SQLite: another process created the tables between our check and our DDL.
            if attempt == 4 or engine.dialect.name != "sqlite":
                raise
            time.sleep(0.2 * (attempt + 1))


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
