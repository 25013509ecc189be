"""Alembic environment: runs on the connection handed over by ``central.db.migrate``."""

from alembic import context
from sqlalchemy import create_engine

from central.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        # `alembic -x url=...` from a shell, for developers writing migrations.
        from central.db import normalize_url

        url = context.get_x_argument(as_dictionary=True)["url"]
        with create_engine(normalize_url(url)).begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


run()
