"""The shipped migrations build exactly the models' schema, and re-running them is a no-op.

A database at 0001 (the first release) upgrades with its data kept; one at 0002 gets the
covering visits index of 0003, and the dwell query reads only that index.
"""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from central.counts import LocalRange, dwell_stats
from central.db import alembic_config, current_revision, make_engine, migrate
from central.models import Base
from central.timeutil import now_ms


def test_migrations_match_models_and_are_idempotent(engine):
    migrate(engine)
    assert current_revision(engine) == "0003"
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


FAR_FUTURE = 253402300799000  # 9999-12-31T23:59:59Z


def test_a_0001_database_upgrades_with_its_data(db_url):
    engine = make_engine(db_url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    event = (
        "INSERT INTO events (event_id, kind, location_id, device_id, camera_id, visit_id, "
        "visit_started_ms, occurred_ms, dwell_s, confidence, received_ms) VALUES "
        "(:eid, 'impression', 1, :dev, 'cam', 'v', 1, 2, 0.5, 0.9, 3)"
    )
    with engine.begin() as c:
        c.execute(text("INSERT INTO companies (id, name, default_timezone, created_ms) "
                       "VALUES (1, 'acme', 'UTC', 0)"))  # fmt: skip
        c.execute(text("INSERT INTO devices (id, company_id, state, state_ms, created_ms) "
                       "VALUES ('edge-1', 1, 'online', :f, 0)"), {"f": FAR_FUTURE})  # fmt: skip
        c.execute(
            text(
                "INSERT INTO locations (id, name, company_id, type, timezone, last_update_ms, "
                "created_ms) VALUES (1, 'main-st', 1, 'store', 'UTC', :f, 0)"
            ),
            {"f": FAR_FUTURE},
        )
        c.execute(text(event), {"eid": "edge-1/a", "dev": "edge-1"})
        c.execute(
            text(
                "INSERT INTO visits (visit_id, device_id, location_id, camera_id, started_ms, "
                "ended_ms, dwell_s, kinds, received_ms) "
                "VALUES ('edge-1/v', 'edge-1', 1, 'cam', 1, 2, 1.0, 'impression', 3)"
            )
        )
    before = now_ms()
    migrate(engine)
    assert current_revision(engine) == "0003"
    with engine.begin() as c:
        assert c.execute(text("SELECT event_id, dwell_s FROM events")).all() == [("edge-1/a", 0.5)]
        assert c.execute(text("SELECT count(*) FROM visits")).scalar_one() == 1
        # A value pinned in the future by an old heartbeat/status is brought back to now.
        last = c.execute(text("SELECT last_update_ms FROM locations")).scalar_one()
        state = c.execute(text("SELECT state_ms FROM devices")).scalar_one()
        assert before <= last <= now_ms() and before <= state <= now_ms()
        # Ids are now unique per device: another device may use the same id...
        c.execute(text(event), {"eid": "edge-1/a", "dev": "edge-2"})
    # ...but the same device may not store it twice.
    with pytest.raises(IntegrityError), engine.begin() as c:
        c.execute(text(event), {"eid": "edge-1/a", "dev": "edge-1"})
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    engine.dispose()


def migrate_down(engine, revision: str) -> None:  # noqa: ANN001
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def index_names(conn, table: str) -> set[str]:  # noqa: ANN001
    return {ix["name"] for ix in inspect(conn).get_indexes(table)}


def test_0003_swaps_the_visits_index_and_back(db_url):
    engine = make_engine(db_url)
    migrate(engine, "0002")
    with engine.begin() as c:
        assert "ix_visits_location_start" in index_names(c, "visits")
        c.execute(text("INSERT INTO companies (id, name, default_timezone, created_ms) "
                       "VALUES (1, 'acme', 'UTC', 0)"))  # fmt: skip
        c.execute(
            text(
                "INSERT INTO locations (id, name, company_id, type, timezone, created_ms) "
                "VALUES (1, 'main-st', 1, 'store', 'UTC', 0)"
            )
        )
        c.execute(
            text(
                "INSERT INTO visits (visit_id, device_id, location_id, camera_id, started_ms, "
                "ended_ms, dwell_s, kinds, received_ms) "
                "VALUES ('edge-1/v', 'edge-1', 1, 'cam', 1000, 4000, 3.0, 'impression', 5000)"
            )
        )
    migrate(engine)
    assert current_revision(engine) == "0003"
    with engine.begin() as c:
        names = index_names(c, "visits")
        assert "ix_visits_location_start_dwell" in names
        assert "ix_visits_location_start" not in names
        assert c.execute(text("SELECT dwell_s FROM visits")).scalar_one() == 3.0
    with engine.connect() as c:
        # The dwell query reads the covering index, never the table rows.
        rng = LocalRange.of(date(1970, 1, 1), date(1970, 1, 1), ZoneInfo("UTC"))
        bucket, params = rng.bucket_sql("started_ms", 3_600_000)
        inner = (
            f"SELECT {bucket} AS b, dwell_s FROM visits "
            "WHERE location_id = :lid AND started_ms >= :start AND started_ms < :end"
        )
        args = {**params, "lid": 1, "start": rng.start_ms, "end": rng.end_ms}
        if engine.dialect.name == "postgresql":
            c.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(c.execute(text("EXPLAIN " + inner), args).scalars())
            assert "ix_visits_location_start_dwell" in plan, plan
        else:
            plan = " ".join(
                str(r[-1]) for r in c.execute(text("EXPLAIN QUERY PLAN " + inner), args)
            )
            assert "COVERING INDEX ix_visits_location_start_dwell" in plan, plan
        assert dwell_stats(c, 1, rng, 3_600_000) == {0: (1, 3.0, 3.0, 3.0)}
    migrate_down(engine, "0002")
    with engine.connect() as c:
        names = index_names(c, "visits")
        assert "ix_visits_location_start" in names
        assert "ix_visits_location_start_dwell" not in names
    engine.dispose()
