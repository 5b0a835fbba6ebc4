"""Alembic environment: runs on the connection `Store.migrate` hands over, or on sqlalchemy.url."""

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

import store.models  # noqa: F401  (registers the tables on the metadata)
from store.engine import include_name

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url in alembic.ini, or migrate through earful (store.Store.migrate)")
    engine = create_engine(url)
    with engine.begin() as conn:
        _run(conn)
