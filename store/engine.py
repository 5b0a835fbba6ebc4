"""The engine, the session factory and the schema migrations.

`Store` is the one handle the rest of earful holds. `store.read()` and `store.write()` each give a session for one
unit of work; repositories take that session and never commit themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from store.errors import Fault, classify, describe

MIGRATIONS = Path(__file__).parent / "migrations"


# Made by migration 0004 outside the models: full-text search (an FTS5 table with its shadow tables on SQLite, a
# GIN expression index on PostgreSQL). Schema comparisons leave them out.
FTS_NAMES = ("mention_fts", "ix_mention_text_fts")
# The advisory lock migrations hold on PostgreSQL: any 64-bit number no other application uses ("earful" in ASCII).
MIGRATION_LOCK = 0x6561727466756C


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    return not (name and type_ in ("table", "index") and name.startswith(FTS_NAMES))


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or opened; the message names the cause and the fix."""


def default_url() -> str:
    path = Path(user_data_dir("earful", appauthor=False)) / "earful.db"
    return f"sqlite:///{path}"


def _sqlite_setup(engine: Engine) -> None:
    # pysqlite opens transactions lazily and wrongly for SAVEPOINT; take over BEGIN ourselves (the SQLAlchemy
    # documented recipe), so savepoints work and writers can ask for BEGIN IMMEDIATE.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A writer takes the write lock up front: a deferred transaction that upgrades to a writer later can fail
        # with "database is locked" at once, without waiting for busy_timeout.
        immediate = conn.get_execution_options().get("earful_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    def __init__(self, url: str | None = None, *, echo: bool = False) -> None:
        self.url = url or default_url()
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        connect_args: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            # The desk and the pipeline share one file from several threads; each session is used by one only.
            connect_args["check_same_thread"] = False
        else:
            connect_args["connect_timeout"] = 5
        self.engine = create_engine(self.url, echo=echo, connect_args=connect_args, pool_pre_ping=True)
        if self.is_sqlite:
            _sqlite_setup(self.engine)
        self._write_engine = self.engine.execution_options(earful_write=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        with Session(self._write_engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def migrate(self) -> None:
        """Bring the schema to the newest migration (creating it on a new database).

        Any number of processes may start at once: on PostgreSQL each takes an advisory lock first, so one
        migrates while the others wait and then find the schema current; on SQLite the migration is a write
        transaction from its first statement (BEGIN IMMEDIATE), which serialises them the same way.
        """
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        try:
            if self._at_head(config):
                return  # the usual start: no lock to take, no writer to wait for
            with self._write_engine.begin() as connection:
                if not self.is_sqlite:
                    # Released with the transaction, so a process killed mid-migration frees it too.
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except DBAPIError as exc:
            if classify(exc) is Fault.ROW:
                raise
            raise StoreUnavailable(describe_unavailable(self.url, exc)) from exc

    def _at_head(self, config: Any) -> bool:
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory.from_config(config).get_heads())
        with self.engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads()) == heads

    def dispose(self) -> None:
        self.engine.dispose()


def describe_unavailable(url: str, exc: BaseException) -> str:
    """The database error as one sentence with its cause and fix, the URL shown without credentials."""
    return describe(exc, url)
