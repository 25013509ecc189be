"""Database fixtures: every central test runs on SQLite and on the real PostgreSQL.

PostgreSQL tests use a fresh schema per fixture (``search_path`` in the URL), so
parallel runs never collide. If PostgreSQL cannot be reached the tests fail
loudly: CI starts it, and a silent skip would hide a broken store.
"""

from __future__ import annotations

import glob
import os
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest

from central.db import make_engine, migrate

PG_HOST = os.environ.get("EXTEROS_TEST_PG_HOST", "127.0.0.1")
PG_DB = os.environ.get("EXTEROS_TEST_PG_DB", "test")
_pg_user: str | None = None


def _try_users() -> str | None:
    for user in (os.environ.get("EXTEROS_TEST_PG_USER"), "postgres", "root"):
        if not user:
            continue
        try:
            with psycopg.connect(host=PG_HOST, dbname=PG_DB, user=user, connect_timeout=3):
                return user
        except psycopg.OperationalError:
            continue
    return None


def pg_user() -> str:
    global _pg_user
    if _pg_user:
        return _pg_user
    user = _try_users()
    if user is None:
        versions = [os.path.basename(p) for p in glob.glob("/etc/postgresql/*")]
        for v in versions:
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", v, "main", "start"],
                capture_output=True,
                check=False,
            )
        user = _try_users()
    if user is None:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_HOST}:5432 database {PG_DB!r} "
            "(users postgres/root)"
        )
    _pg_user = user
    return user


class PgSchema:
    def __init__(self) -> None:
        self.user = pg_user()
        self.schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=PG_HOST, dbname=PG_DB, user=self.user, autocommit=True) as c:
            c.execute(f'CREATE SCHEMA "{self.schema}"')
        opts = quote(f"-csearch_path={self.schema}")
        self.url = f"postgresql://{self.user}@{PG_HOST}:5432/{PG_DB}?options={opts}"

    def drop(self) -> None:
        with psycopg.connect(host=PG_HOST, dbname=PG_DB, user=self.user, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def new_db_url(kind: str, tmp_dir) -> tuple[str, object]:  # noqa: ANN001
    if kind == "sqlite":
        return f"sqlite:///{tmp_dir}/central-{uuid.uuid4().hex[:8]}.db", None
    pg = PgSchema()
    return pg.url, pg


DB_KINDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DB_KINDS)
def db_url(request, tmp_path) -> Iterator[str]:
    url, pg = new_db_url(request.param, tmp_path)
    try:
        yield url
    finally:
        if pg:
            pg.drop()


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


# Unlimited queue per offline session: a killed worker's backlog must not be dropped.
BROKER_CONF = "max_queued_messages 0\n"


@pytest.fixture
def mosq(tmp_path):  # noqa: ANN001, ANN201
    """A real Mosquitto on a free port for the ingest tests."""
    from tests.support.broker import Mosquitto

    with Mosquitto(tmp_path / "broker", extra_conf=BROKER_CONF) as b:
        yield b
