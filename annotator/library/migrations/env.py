"""Run the library's Alembic migrations on the connection that ``db.upgrade`` passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from annotator.library.schema import Base

config = context.config
connection = config.attributes.get("connection")


def _run(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move instead
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        target_metadata=Base.metadata,
    )
    with context.begin_transaction():
        context.run_migrations()
elif connection is not None:
    _run(connection)
else:  # the ``alembic`` command line, with sqlalchemy.url set in its config
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        _run(conn)
