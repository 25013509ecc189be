"""event and visit ids are unique per sending device, not globally

A device could publish an event id that another company's device would use
later, and the real event was then dropped as a duplicate. Uniqueness becomes
(device_id, event_id) and (device_id, visit_id, location_id). Existing rows
satisfy the new constraints (they are weaker than the old ones).

A heartbeat or status dated in the future could pin a location's last-update
(or a device's state) there for good; such values are brought back to now.

Revision ID: 0002
Revises: 0001
"""

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch_alter_table rebuilds the table on SQLite (no ALTER ... DROP CONSTRAINT there)
    # and issues plain ALTER TABLE statements on PostgreSQL.
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_event_id", type_="unique")
        batch.create_unique_constraint("uq_events_device_id_event_id", ["device_id", "event_id"])
    with op.batch_alter_table("visits") as batch:
        batch.drop_constraint("uq_visits_visit_id_location_id", type_="unique")
        batch.create_unique_constraint(
            "uq_visits_device_id_visit_id_location_id", ["device_id", "visit_id", "location_id"]
        )
    now = time.time_ns() // 1_000_000
    for table, column in (("locations", "last_update_ms"), ("devices", "state_ms")):
        op.execute(
            sa.text(f"UPDATE {table} SET {column} = :now WHERE {column} > :now").bindparams(now=now)
        )


def downgrade() -> None:
    # Fails if two devices now share an id: that is the state 0001 could not represent.
    with op.batch_alter_table("visits") as batch:
        batch.drop_constraint("uq_visits_device_id_visit_id_location_id", type_="unique")
        batch.create_unique_constraint(
            "uq_visits_visit_id_location_id", ["visit_id", "location_id"]
        )
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_device_id_event_id", type_="unique")
        batch.create_unique_constraint("uq_events_event_id", ["event_id"])
