"""The shipped migrations build exactly the models' schema, and re-running them is a no-op."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from central.db import current_revision, migrate
from central.models import Base


def test_migrations_match_models_and_are_idempotent(engine):
    migrate(engine)
    assert current_revision(engine) == "0001"
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
