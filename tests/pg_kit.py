"""A PostgreSQL database of a test's own on the real server, for the tests that take it away (an outage, a
drop) or must start from nothing (migrations, racing writers): the shared one in conftest stays untouched."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from store import Store

PG_URL = os.environ.get("EARFUL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@dataclass
class OwnDatabase:
    name: str
    url: str
    admin: Engine

    def down(self) -> None:
        """The server refuses new connections to it and ends the open ones: an outage, as a client sees one."""
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}'")
            )

    def up(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true'))

    def drop(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


@contextmanager
def own_database(prefix: str = "earful_test", *, migrate: bool = False) -> Iterator[OwnDatabase]:
    """A new database (`migrate`: at the newest schema), dropped when the block ends."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    database = OwnDatabase(
        name, make_url(PG_URL).set(database=name).render_as_string(hide_password=False), admin
    )
    try:
        if migrate:
            store = Store(database.url)
            store.migrate()
            store.dispose()
        yield database
    finally:
        database.drop()
        admin.dispose()
