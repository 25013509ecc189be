"""visits index covers dwell_s, so the dwell endpoint reads only the index

``GET /v1/traffic/dwell`` reads ``dwell_s`` of one location's visits over a range of
start times. With ``dwell_s`` in the index (after ``location_id, started_ms``) that is an
index-only scan on PostgreSQL and a covering-index scan on SQLite, instead of one table
row fetch per visit. The new index starts with the old one's columns, so it serves every
query the old one did; the old one is dropped.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_visits_location_start_dwell",
        "visits",
        ["location_id", "started_ms", "dwell_s"],
        unique=False,
    )
    op.drop_index("ix_visits_location_start", table_name="visits")


def downgrade() -> None:
    op.create_index(
        "ix_visits_location_start", "visits", ["location_id", "started_ms"], unique=False
    )
    op.drop_index("ix_visits_location_start_dwell", table_name="visits")
