"""Alembic environment: Squall runs migrations itself (`Database.migrate`) on a connection it
hands over; `alembic` on the command line works too with `-x url=…`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from squall.core.models import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database with: alembic -x url=sqlite:///path/squall.db …")
    with create_engine(url).begin() as connection:
        _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
